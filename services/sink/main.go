// Command sink writes everything rtt keeps in JetStream into ClickHouse,
// acknowledging each message only after its INSERT succeeded.
package main

import (
	"context"
	"flag"
	"io"
	"time"

	"github.com/rtt-dev/rtt/pkg/svc"
	"github.com/rtt-dev/rtt/services/sink/internal/sink"
)

func main() { svc.Main("sink", run) }

func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg sink.Config
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	cfg.Register(fs)
	env, err := svc.Boot(ctx, "sink", fs, args, &cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	cfg.LogEffective(env.Log)
	return svc.Run(ctx, sink.New(cfg, env.Log, env.Registry, env.Tracer), cfg.DrainTimeout+5*time.Second)
}
