package stack

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/rtt-dev/rtt/pkg/chx/chserver"
)

// ClickHouse runs the private ClickHouse server of the stack in
// cfg.DataDir/clickhouse until ctx ends, then stops it (SIGTERM, then
// SIGKILL after chserver.StopTimeout). With install it first installs the
// server if missing (chserver.Install, output to stderr). It prints where
// the server listens to stdout once it answers. The server's log goes to
// DIR/log/clickhouse-server.log. It returns an error if the server cannot
// start or exits by itself.
func ClickHouse(ctx context.Context, cfg ClickHouseConfig, install bool, stdout, stderr io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if install {
		if err := chserver.Install(ctx, stderr); err != nil {
			return err
		}
	}
	dir := filepath.Join(cfg.DataDir, "clickhouse")
	srv, err := chserver.Start(ctx, chserver.Options{Dir: dir, TCPPort: cfg.TCPPort, HTTPPort: cfg.HTTPPort})
	if err != nil {
		return err
	}
	// chserver logs here when it is given no writers.
	log := filepath.Join(dir, "log", "clickhouse-server.log")
	fmt.Fprintf(stdout, "ClickHouse listens on %s (native) and http://%s (HTTP); data in %s, log in %s\n", srv.Addr(), srv.HTTPAddr(), dir, log)

	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	select {
	case <-ctx.Done():
		if err := srv.Stop(); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "ClickHouse stopped")
		return nil
	case err := <-exited:
		return fmt.Errorf("ClickHouse exited by itself (%v); see %s", err, log)
	}
}
