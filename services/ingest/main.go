// Command ingest serves rtt's HTTP API and stores what it accepts in NATS
// JetStream, embedding a NATS server unless RTT_NATS_URL names one.
package main

import (
	"context"
	"flag"
	"io"
	"time"

	"github.com/rtt-dev/rtt/pkg/svc"
	"github.com/rtt-dev/rtt/services/ingest/internal/ingest"
)

func main() { svc.Main("ingest", run) }

func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg ingest.Config
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	cfg.Register(fs)
	env, err := svc.Boot(ctx, "ingest", fs, args, &cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	cfg.LogEffective(env.Log)
	svc.SetMemoryLimit(cfg.MemoryLimit, env.Log)
	return svc.Run(ctx, ingest.New(cfg, env.Log, env.Registry, env.Tracer), 20*time.Second)
}
