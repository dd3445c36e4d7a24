// Command drift detects structural drift in the beacon stream and publishes
// drift events on rtt.drift.<site>.
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
	"github.com/rtt-dev/rtt/services/drift/internal/drift"
)

func main() { svc.Main("drift", run) }

func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg drift.Config
	fs := flag.NewFlagSet("drift", flag.ContinueOnError)
	cfg.Register(fs)
	if err := svc.Parse(fs, args); err != nil {
		return err
	}
	log, err := cfg.Log.Logger(stderr, "drift")
	if err != nil {
		return err
	}
	log.Info().Str("addr", cfg.Addr).Str("nats_url", cfg.NATSURL).Interface("params", cfg.Params).
		Int("batch_size", cfg.BatchSize).Dur("batch_age", cfg.BatchAge).Msg("configuration")
	tp, flush, err := otelx.Setup(ctx, "drift")
	if err != nil {
		return err
	}
	defer flush(context.Background())
	s, err := drift.New(cfg, log, promx.NewRegistry(), tp)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return errors.Join(err, s.Shutdown(context.Background()))
	}
	err = <-s.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(err, s.Shutdown(sctx))
}
