// Command drift detects structural drift in the beacon stream and publishes
// drift events on rtt.drift.<site>.
package main

import (
	"context"
	"flag"
	"io"
	"time"

	"github.com/rtt-dev/rtt/pkg/svc"
	"github.com/rtt-dev/rtt/services/drift/internal/drift"
)

func main() { svc.Main("drift", run) }

func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg drift.Config
	fs := flag.NewFlagSet("drift", flag.ContinueOnError)
	cfg.Register(fs)
	env, err := svc.Boot(ctx, "drift", fs, args, &cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	env.Log.Info().Str("addr", cfg.Addr).Str("nats_url", cfg.NATSURL).Interface("params", cfg.Params).
		Int("batch_size", cfg.BatchSize).Dur("batch_age", cfg.BatchAge).Msg("configuration")
	s, err := drift.New(cfg, env.Log, env.Registry, env.Tracer)
	if err != nil {
		return err
	}
	return svc.Run(ctx, s, cfg.DrainTimeout+5*time.Second)
}
