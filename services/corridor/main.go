// Command corridor checks observed flows against their sites' declared
// corridors and publishes alignment records on rtt.alignment.<site>.
package main

import (
	"context"
	"flag"
	"io"
	"time"

	"github.com/rtt-dev/rtt/pkg/svc"
	"github.com/rtt-dev/rtt/services/corridor/internal/corridor"
)

func main() { svc.Main("corridor", run) }

func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg corridor.Config
	fs := flag.NewFlagSet("corridor", flag.ContinueOnError)
	cfg.Register(fs)
	env, err := svc.Boot(ctx, "corridor", fs, args, &cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	env.Log.Info().Str("addr", cfg.Addr).Str("nats_url", cfg.NATSURL).Float64("alpha", cfg.Alpha).
		Int("batch_size", cfg.BatchSize).Dur("batch_age", cfg.BatchAge).Msg("configuration")
	s, err := corridor.New(cfg, env.Log, env.Registry, env.Tracer)
	if err != nil {
		return err
	}
	return svc.Run(ctx, s, cfg.DrainTimeout+5*time.Second)
}
