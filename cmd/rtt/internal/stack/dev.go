package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rtt-dev/rtt/cmd/rtt/internal/supervisor"
	"github.com/rtt-dev/rtt/pkg/chx/chserver"
)

// demoStopTimeout bounds the wait for the load generator after its context
// ended, before the services stop.
const demoStopTimeout = 10 * time.Second

// DevOptions are what Dev needs besides its Config.
type DevOptions struct {
	// Stdout receives the endpoints and "ready"; Stderr every child's
	// output and rtt's own messages, each line prefixed with who wrote it.
	Stdout, Stderr io.Writer
	// Self is the rtt binary, which runs ClickHouse as "rtt clickhouse";
	// empty means os.Executable.
	Self string
	// Environ is the environment the children start from; nil means
	// os.Environ.
	Environ []string
	// Demo runs a load generator against the API at api until ctx ends;
	// Config.Demo needs it.
	Demo func(ctx context.Context, api string, stdout, stderr io.Writer) error
}

// Dev runs the stack until ctx ends or a child exits. It installs ClickHouse
// when missing (chserver.Install), starts ClickHouse and ingest, then drift,
// corridor and sink once those answer, waits for every /readyz, writes the
// ready marker, prints the endpoints and "ready" to Stdout and, with
// Config.Demo, runs the load generator. When ctx ends it stops everything in
// reverse order and returns nil (or the stop's errors). When a child exits
// by itself or does not become ready within Config.ReadyTimeout, it stops the
// rest and returns an error naming that child, with the end of its output.
// The pid file and the marker are removed before Dev returns.
func Dev(ctx context.Context, cfg Config, o DevOptions) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Demo && o.Demo == nil {
		return errors.New("demo: no load generator in this build")
	}
	var err error
	if cfg.ClickHouse.DataDir, err = filepath.Abs(cfg.ClickHouse.DataDir); err != nil {
		return err
	}
	if cfg.BinDir, err = filepath.Abs(cfg.BinDir); err != nil {
		return err
	}
	if o.Self == "" {
		if o.Self, err = os.Executable(); err != nil {
			return fmt.Errorf("find the rtt binary: %w", err)
		}
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}

	sup := supervisor.New(supervisor.Options{Out: o.Stderr, StopTimeout: cfg.StopTimeout, PrefixWidth: len("clickhouse")})
	say := sup.Writer("rtt")

	dataDir := cfg.ClickHouse.DataDir
	if err := os.MkdirAll(RunDir(dataDir), 0o755); err != nil {
		return err
	}
	release, err := acquirePID(PIDPath(dataDir))
	if err != nil {
		return err
	}
	defer release()
	marker := MarkerPath(dataDir)
	os.Remove(marker) // left by a killed run
	if err := checkBinaries(cfg.BinDir); err != nil {
		return err
	}
	if err := checkPorts(cfg.listeners()); err != nil {
		return err
	}
	if err := chserver.Install(ctx, say); err != nil {
		return interrupted(ctx, fmt.Errorf("install ClickHouse: %w", err))
	}

	for _, st := range cfg.plan(o.Self, o.Environ, !isTerminal(o.Stderr)) {
		var children []*supervisor.Child
		var names []string
		for _, spec := range st {
			c, err := sup.Start(spec)
			if err != nil {
				return interrupted(ctx, errors.Join(err, sup.Stop()))
			}
			children = append(children, c)
			names = append(names, spec.Name)
		}
		fmt.Fprintf(say, "started %s; waiting until ready\n", strings.Join(names, ", "))
		if err := sup.WaitReady(ctx, cfg.ReadyTimeout, children...); err != nil {
			fmt.Fprintf(say, "stopping everything\n")
			return interrupted(ctx, errors.Join(err, sup.Stop()))
		}
	}

	e := cfg.Endpoints(os.Getpid())
	if err := writeMarker(marker, e); err != nil {
		return errors.Join(err, sup.Stop())
	}
	defer os.Remove(marker)
	fmt.Fprintln(o.Stdout, "rtt dev: everything is up")
	e.Print(o.Stdout)
	fmt.Fprintln(o.Stdout, "ready")

	stopDemo := func() {}
	if cfg.Demo {
		stopDemo = startDemo(ctx, o.Demo, e.API, sup.Writer("loadgen"), say)
	}

	select {
	case <-ctx.Done():
		fmt.Fprintf(say, "stopping in reverse start order (a second Ctrl-C or SIGTERM kills everything at once)\n")
	case <-sup.Done():
	}
	os.Remove(marker) // no longer ready
	stopDemo()
	if err := sup.Wait(ctx); err != nil {
		return err
	}
	fmt.Fprintf(say, "stopped\n")
	return nil
}

// startDemo runs demo against api in the background, its output on w and
// how it ended on say. The returned stop cancels it and waits for it to
// return, at most demoStopTimeout, so that it stops before the services.
func startDemo(ctx context.Context, demo func(context.Context, string, io.Writer, io.Writer) error, api string, w, say io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := demo(ctx, api, w, w)
		switch {
		case ctx.Err() != nil:
			fmt.Fprintf(say, "load generator stopped\n")
		case err != nil:
			fmt.Fprintf(say, "load generator failed: %v\n", err)
		default:
			fmt.Fprintf(say, "load generator finished\n")
		}
	}()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(demoStopTimeout):
			fmt.Fprintf(say, "load generator still running %s after it was told to stop\n", demoStopTimeout)
		}
	}
}

// interrupted turns err into nil when ctx ended: a Ctrl-C during start-up
// is a request, not a failure.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		var exit *supervisor.ExitError
		if !errors.As(err, &exit) {
			return nil
		}
	}
	return err
}

// checkBinaries reports a service binary missing from dir.
func checkBinaries(dir string) error {
	for _, name := range Services {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("%s: no executable service binary there; build the services with 'make build' or point -bin-dir (RTT_BIN_DIR) at them", p)
		}
	}
	return nil
}

// checkPorts reports an address that is already taken, before anything
// starts, so that the error names the flag to change.
func checkPorts(ls []listener) error {
	for _, l := range ls {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return fmt.Errorf("%s: cannot listen on %s: %w; is rtt already running ('make down' stops it) or another program using the port?", l.flag, l.addr, err)
		}
		ln.Close()
	}
	return nil
}

// isTerminal reports whether w is a terminal (for colored console logs).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
