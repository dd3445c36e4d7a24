package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/rtt-dev/rtt/cmd/rtt/internal/supervisor"
)

// waitPoll is how often WaitReady looks at the marker and the services.
const waitPoll = 250 * time.Millisecond

// WaitConfig configures WaitReady.
type WaitConfig struct {
	// DataDir is the data folder of the stack to wait for.
	DataDir string
	// Timeout bounds the wait.
	Timeout time.Duration
	// PID, when set, is the "rtt dev" to wait for: WaitReady fails at once
	// when it exits, and ignores a marker written by another process.
	PID int
	// Log, when set, is the file "rtt dev" writes to; its last lines are
	// quoted when waiting fails.
	Log string
}

// WaitReady blocks until the stack that uses cfg.DataDir is ready: its ready
// marker exists, the "rtt dev" that wrote it runs, and every service in it
// answers 200 on its readiness URL. It then prints the endpoints to stdout
// and returns nil. It fails when cfg.Timeout passes, when cfg.PID exits, or
// when ctx ends, saying what was still missing.
func WaitReady(ctx context.Context, cfg WaitConfig, stdout io.Writer) error {
	if cfg.DataDir == "" {
		return errors.New("data-dir: must not be empty")
	}
	if cfg.Timeout <= 0 {
		return errors.New("timeout: must be positive")
	}
	path := MarkerPath(cfg.DataDir)
	deadline := time.Now().Add(cfg.Timeout)
	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	for {
		if cfg.PID > 0 && !processAlive(cfg.PID) {
			return fmt.Errorf("rtt dev (pid %d) exited before it was ready%s", cfg.PID, logTail(cfg.Log))
		}
		e, err := checkReady(ctx, path, cfg.PID)
		if err == nil {
			fmt.Fprintf(stdout, "rtt is ready (pid %d)\n", e.PID)
			e.Print(stdout)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s: %w%s", cfg.Timeout, err, logTail(cfg.Log))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w while waiting: %w", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// checkReady reads the marker and probes every service in it.
func checkReady(ctx context.Context, path string, pid int) (Endpoints, error) {
	e, err := ReadMarker(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return e, fmt.Errorf("no ready marker at %s yet", path)
	case err != nil:
		return e, err
	case pid > 0 && e.PID != pid:
		return e, fmt.Errorf("ready marker %s is of pid %d, not of %d", path, e.PID, pid)
	case !processAlive(e.PID):
		return e, fmt.Errorf("ready marker %s is stale: rtt dev (pid %d) is not running", path, e.PID)
	}
	var errs []error
	for _, s := range e.Services {
		if err := supervisor.Probe(ctx, s.Ready); err != nil {
			errs = append(errs, fmt.Errorf("%s not ready (GET %s: %w)", s.Name, s.Ready, err))
		}
	}
	return e, errors.Join(errs...)
}

// logTail returns the last lines of the file at path under a header, or ""
// when there is no such file.
func logTail(path string) string {
	const lines = 40
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return fmt.Sprintf("\n--- last lines of %s ---\n%s", path, strings.Join(ls, "\n"))
}
