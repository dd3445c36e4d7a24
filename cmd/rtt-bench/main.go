// Command rtt-bench measures rtt on this machine side by side with what
// NATS JetStream and ClickHouse do alone, prints the figures and writes them
// to .data/bench/latest.json (see docs/performance.md). Run it from the
// checkout: go run ./cmd/rtt-bench, or make bench.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rtt-dev/rtt/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the bench, and the services with it
	}()
	code := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
