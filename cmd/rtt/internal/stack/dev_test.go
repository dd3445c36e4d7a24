package stack

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary plays every child of the stack: run as "clickhouse ..." it
// is "rtt clickhouse" (a real ClickHouse server); with STACK_TEST_FAKE set it
// is a fake service that serves /readyz and /metrics on the address its
// RTT_* variable names, records its environment in STACK_TEST_OUT/NAME.env
// and, on SIGTERM, appends NAME to STACK_TEST_OUT/stopped. STACK_TEST_CRASH
// names a service that exits 1 soon after it is ready; STACK_TEST_UNREADY one
// whose /readyz answers 503.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "clickhouse" {
		os.Exit(fakeRTTClickHouse(os.Args[2:]))
	}
	if name := os.Getenv("STACK_TEST_FAKE"); name != "" {
		os.Exit(fakeService(name))
	}
	os.Exit(m.Run())
}

func fakeRTTClickHouse(args []string) int {
	var cfg ClickHouseConfig
	fs := flag.NewFlagSet("clickhouse", flag.ContinueOnError)
	cfg.Register(fs)
	install := fs.Bool("install", true, "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := ClickHouse(ctx, cfg, *install, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func fakeService(name string) int {
	out := os.Getenv("STACK_TEST_OUT")
	addrVar := map[string]string{"ingest": "RTT_ADDR", "drift": "RTT_DRIFT_ADDR", "corridor": "RTT_CORRIDOR_ADDR", "sink": "RTT_SINK_ADDR"}[name]
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RTT_") || strings.HasPrefix(kv, "NO_COLOR=") {
			env = append(env, kv)
		}
	}
	slices.Sort(env)
	os.WriteFile(filepath.Join(out, name+".env"), []byte(strings.Join(env, "\n")+"\n"), 0o644)

	l, err := net.Listen("tcp", os.Getenv(addrVar))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	ready := os.Getenv("STACK_TEST_UNREADY") != name
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && !ready {
			http.Error(w, "waiting for the moon", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	fmt.Printf("%s listening on %s\n", name, l.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	var crash <-chan time.Time
	if os.Getenv("STACK_TEST_CRASH") == name {
		crash = time.After(500 * time.Millisecond)
	}
	select {
	case <-sig:
		f, _ := os.OpenFile(filepath.Join(out, "stopped"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		fmt.Fprintln(f, name)
		f.Close()
		return 0
	case <-crash:
		fmt.Fprintf(os.Stderr, "%s: lost my marbles\n", name)
		return 1
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// freePorts returns n distinct ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// devFixture is a stack of fake services around a real ClickHouse.
type devFixture struct {
	cfg    Config
	opts   DevOptions
	out    string // STACK_TEST_OUT
	stdout *syncBuffer
	stderr *syncBuffer
}

func newDevFixture(t *testing.T) *devFixture {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	out := filepath.Join(dir, "out")
	for _, d := range []string{bin, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range Services {
		script := fmt.Sprintf("#!/bin/sh\nSTACK_TEST_FAKE=%s exec %q\n", name, self)
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := freePorts(t, 7)
	addr := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
	cfg := Config{
		ClickHouse: ClickHouseConfig{DataDir: filepath.Join(dir, "data"), TCPPort: p[0], HTTPPort: p[1]},
		BinDir:     bin, Addr: addr(p[2]), NATSPort: p[3],
		DriftAddr: addr(p[4]), CorridorAddr: addr(p[5]), SinkAddr: addr(p[6]),
		Database: "rtt", ReadyTimeout: 30 * time.Second, StopTimeout: 15 * time.Second,
		LogFormat: "console", LogLevel: "info",
	}
	f := &devFixture{cfg: cfg, out: out, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	environ := []string{"PATH=" + os.Getenv("PATH"), "STACK_TEST_OUT=" + out, "RTT_NATS_URL=nats://not-this-one:1"}
	f.opts = DevOptions{Stdout: f.stdout, Stderr: f.stderr, Self: self, Environ: environ}
	return f
}

// run starts Dev and returns a channel with its result.
func (f *devFixture) run(ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() { done <- Dev(ctx, f.cfg, f.opts) }()
	return done
}

func (f *devFixture) env(t *testing.T, service string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.out, service+".env"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDevRunsAndStopsTheStack(t *testing.T) {
	f := newDevFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var demoAPI string
	demoStopped := make(chan struct{})
	f.cfg.Demo = true
	f.opts.Demo = func(ctx context.Context, api string, stdout, _ io.Writer) error {
		demoAPI = api
		fmt.Fprintln(stdout, "sending beacons")
		<-ctx.Done()
		close(demoStopped)
		return ctx.Err()
	}
	done := f.run(ctx)

	waitCtx, waitCancel := context.WithTimeout(ctx, 60*time.Second)
	defer waitCancel()
	var waitOut bytes.Buffer
	if err := WaitReady(waitCtx, WaitConfig{DataDir: f.cfg.ClickHouse.DataDir, Timeout: 60 * time.Second}, &waitOut); err != nil {
		cancel()
		t.Fatalf("WaitReady: %v\nrtt dev wrote:\n%s", err, f.stderr)
	}
	e := f.cfg.Endpoints(os.Getpid())
	for _, want := range []string{"rtt is ready (pid " + strconv.Itoa(os.Getpid()) + ")", e.API, e.NATS, e.Services[4].Metrics} {
		if !strings.Contains(waitOut.String(), want) {
			t.Errorf("wait-ready output lacks %q:\n%s", want, waitOut.String())
		}
	}
	checkFor(t, 5*time.Second, func() error {
		if !strings.Contains(f.stdout.String(), "\nready\n") || !strings.Contains(f.stderr.String(), "loadgen    | sending beacons") {
			return fmt.Errorf("no ready line on stdout or demo output:\n%s\n%s", f.stdout, f.stderr)
		}
		return nil
	})
	if demoAPI != e.API {
		t.Errorf("demo got API %q, want %q", demoAPI, e.API)
	}

	// ClickHouse is real and answers queries.
	resp, err := http.Get(e.ClickHouseHTTP + "/?query=SELECT%20version()")
	if err != nil {
		t.Fatal(err)
	}
	version, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("ClickHouse %s", bytes.TrimSpace(version))

	// Every service got its settings, and ingest none of the NATS URL.
	envChecks := map[string][]string{
		"ingest":   {"RTT_ADDR=" + f.cfg.Addr, "RTT_DATA_DIR=" + f.cfg.ClickHouse.DataDir, "RTT_NATS_PORT=" + strconv.Itoa(f.cfg.NATSPort), "NO_COLOR=1"},
		"drift":    {"RTT_DRIFT_ADDR=" + f.cfg.DriftAddr, "RTT_NATS_URL=" + e.NATS},
		"corridor": {"RTT_CORRIDOR_ADDR=" + f.cfg.CorridorAddr, "RTT_NATS_URL=" + e.NATS},
		"sink":     {"RTT_SINK_ADDR=" + f.cfg.SinkAddr, "RTT_NATS_URL=" + e.NATS, "RTT_CLICKHOUSE_ADDR=" + e.ClickHouse, "RTT_LOG_FORMAT=console"},
	}
	for service, wants := range envChecks {
		env := f.env(t, service)
		for _, want := range wants {
			if !strings.Contains(env, want+"\n") {
				t.Errorf("%s's environment lacks %s:\n%s", service, want, env)
			}
		}
	}
	if env := f.env(t, "ingest"); strings.Contains(env, "RTT_NATS_URL") {
		t.Errorf("ingest got RTT_NATS_URL (it must embed NATS):\n%s", env)
	}
	pid, err := readPID(PIDPath(f.cfg.ClickHouse.DataDir))
	if err != nil || pid != os.Getpid() {
		t.Errorf("pid file: %d, %v", pid, err)
	}
	if _, err := os.Stat(MarkerPath(f.cfg.ClickHouse.DataDir)); err != nil {
		t.Errorf("ready marker: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Dev after cancel = %v\n%s", err, f.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("Dev did not return after cancel:\n%s", f.stderr)
	}
	select {
	case <-demoStopped:
	default:
		t.Error("the demo was not stopped")
	}
	stopped, _ := os.ReadFile(filepath.Join(f.out, "stopped"))
	if got, want := strings.Fields(string(stopped)), []string{"sink", "corridor", "drift", "ingest"}; !slices.Equal(got, want) {
		t.Errorf("stop order %v, want %v", got, want)
	}
	for _, p := range []string{MarkerPath(f.cfg.ClickHouse.DataDir), PIDPath(f.cfg.ClickHouse.DataDir)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after Dev returned (%v)", p, err)
		}
	}
	if err := probeOnce(e.ClickHouseHTTP + "/ping"); err == nil {
		t.Error("ClickHouse still answers after Dev returned")
	}
	if !strings.Contains(f.stderr.String(), "clickhouse | ClickHouse stopped") {
		t.Errorf("ClickHouse did not stop cleanly:\n%s", f.stderr)
	}
}

func TestDevStopsEverythingWhenAServiceDies(t *testing.T) {
	f := newDevFixture(t)
	f.opts.Environ = append(f.opts.Environ, "STACK_TEST_CRASH=corridor")
	done := f.run(context.Background())
	var err error
	select {
	case err = <-done:
	case <-time.After(90 * time.Second):
		t.Fatalf("Dev did not return:\n%s", f.stderr)
	}
	if err == nil || !strings.Contains(err.Error(), "corridor exited unexpectedly (exit status 1)") || !strings.Contains(err.Error(), "corridor: lost my marbles") {
		t.Fatalf("Dev = %v, want an error naming corridor with its last output", err)
	}
	stopped, _ := os.ReadFile(filepath.Join(f.out, "stopped"))
	if got, want := strings.Fields(string(stopped)), []string{"sink", "drift", "ingest"}; !slices.Equal(got, want) {
		t.Errorf("the others were stopped as %v, want %v", got, want)
	}
	if _, err := os.Stat(MarkerPath(f.cfg.ClickHouse.DataDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ready marker still there: %v", err)
	}
}

func TestDevNamesTheServiceThatIsNotReady(t *testing.T) {
	f := newDevFixture(t)
	f.cfg.ReadyTimeout = 2 * time.Second
	f.opts.Environ = append(f.opts.Environ, "STACK_TEST_UNREADY=sink")
	var err error
	select {
	case err = <-f.run(context.Background()):
	case <-time.After(90 * time.Second):
		t.Fatalf("Dev did not return:\n%s", f.stderr)
	}
	for _, want := range []string{"sink did not become ready within 2s", "503 Service Unavailable: waiting for the moon", "last lines of sink's output", "sink listening on"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Dev = %v, want it to contain %q", err, want)
		}
	}
	if strings.Contains(f.stdout.String(), "ready\n") {
		t.Errorf("said ready:\n%s", f.stdout)
	}
}

func TestDevRefusesTakenPortsAndMissingBinaries(t *testing.T) {
	f := newDevFixture(t)
	l, err := net.Listen("tcp", f.cfg.DriftAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = Dev(context.Background(), f.cfg, f.opts)
	if err == nil || !strings.HasPrefix(err.Error(), "drift-addr: cannot listen on "+f.cfg.DriftAddr) {
		t.Errorf("Dev with drift's port taken = %v", err)
	}

	os.Remove(filepath.Join(f.cfg.BinDir, "corridor"))
	err = Dev(context.Background(), f.cfg, f.opts)
	if err == nil || !strings.Contains(err.Error(), "corridor: no executable service binary there; build the services with 'make build'") {
		t.Errorf("Dev without bin/corridor = %v", err)
	}
}

func probeOnce(url string) error {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// checkFor polls fn until it returns nil or total has passed.
func checkFor(t *testing.T, total time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
