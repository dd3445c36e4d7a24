// Command ingest serves rtt's HTTP API and stores what it accepts in NATS
// JetStream, embedding a NATS server unless RTT_NATS_URL names one.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"time"

	"github.com/rtt-dev/rtt/pkg/otelx"
	"github.com/rtt-dev/rtt/pkg/promx"
	"github.com/rtt-dev/rtt/pkg/svc"
	"github.com/rtt-dev/rtt/services/ingest/internal/ingest"
)

func main() { svc.Main("ingest", run) }

func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg ingest.Config
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	cfg.Register(fs)
	if err := svc.Parse(fs, args); err != nil {
		return err
	}
	log, err := cfg.Log.Logger(stderr, "ingest")
	if err != nil {
		return err
	}
	cfg.LogEffective(log)
	tp, flush, err := otelx.Setup(ctx, "ingest")
	if err != nil {
		return err
	}
	defer flush(context.Background())
	s := ingest.New(cfg, log, promx.NewRegistry(), tp)
	if err := s.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err = <-s.Done():
		log.Error().Err(err).Msg("HTTP server stopped")
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return errors.Join(err, s.Shutdown(shutdownCtx))
}
