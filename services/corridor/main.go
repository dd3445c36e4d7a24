// Command corridor checks observed flows against their sites' declared
// corridors and publishes alignment records on rtt.alignment.<site>.
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
	"github.com/rtt-dev/rtt/services/corridor/internal/corridor"
)

func main() { svc.Main("corridor", run) }

func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg corridor.Config
	fs := flag.NewFlagSet("corridor", flag.ContinueOnError)
	cfg.Register(fs)
	if err := svc.Parse(fs, args); err != nil {
		return err
	}
	log, err := cfg.Log.Logger(stderr, "corridor")
	if err != nil {
		return err
	}
	log.Info().Str("addr", cfg.Addr).Str("nats_url", cfg.NATSURL).Float64("alpha", cfg.Alpha).
		Int("batch_size", cfg.BatchSize).Dur("batch_age", cfg.BatchAge).Msg("configuration")
	tp, flush, err := otelx.Setup(ctx, "corridor")
	if err != nil {
		return err
	}
	defer flush(context.Background())
	s, err := corridor.New(cfg, log, promx.NewRegistry(), tp)
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
