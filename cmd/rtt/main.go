// Command rtt runs the rtt pipeline on one machine and talks to a running
// one: "rtt dev" starts a private ClickHouse and the four services and
// supervises them, "rtt wait-ready" waits for such a stack, "rtt loadgen"
// generates load, "rtt beacon" sends one beacon from a script or CI job,
// "rtt check" runs the verification checklist. "rtt help" lists every
// command.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rtt-dev/rtt/cmd/rtt/internal/cli"
)

func main() {
	// Writing to a closed stdout or stderr (the reader of "make run | tee"
	// got the same Ctrl-C) must not kill rtt halfway through stopping its
	// children: with SIGPIPE handled, such writes just fail. A handled
	// signal, unlike an ignored one, is reset for the children on exec.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal now kills rtt, and its children with it
	}()
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
