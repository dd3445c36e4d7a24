// Command sink writes everything rtt keeps in JetStream into ClickHouse,
// acknowledging each message only after its INSERT succeeded.
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
	"github.com/rtt-dev/rtt/services/sink/internal/sink"
)

func main() { svc.Main("sink", run) }

func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg sink.Config
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	cfg.Register(fs)
	if err := svc.Parse(fs, args); err != nil {
		return err
	}
	log, err := cfg.Log.Logger(stderr, "sink")
	if err != nil {
		return err
	}
	cfg.LogEffective(log)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tp, flush, err := otelx.Setup(ctx, "sink")
	if err != nil {
		return err
	}
	defer flush(context.Background())
	s := sink.New(cfg, log, promx.NewRegistry(), tp)
	if err := s.Start(ctx); err != nil {
		return errors.Join(err, s.Shutdown(context.Background()))
	}
	select {
	case <-ctx.Done():
	case err = <-s.Errors():
		cancel()
	}
	shutdownCtx, stop := context.WithTimeout(context.Background(), cfg.DrainTimeout+5*time.Second)
	defer stop()
	return errors.Join(err, s.Shutdown(shutdownCtx))
}
