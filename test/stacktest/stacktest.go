// Package stacktest runs rtt's four services as separate processes, built
// from this checkout, around a test's ClickHouse database: what the
// end-to-end and SDK tests run against.
package stacktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/chx/chxtest"
)

// binDir holds the service binaries built by Main.
var binDir string

// Main builds the services (root is the module root relative to the test's
// folder), runs the tests with a shared ClickHouse, and returns the exit
// code: func TestMain(m *testing.M) { os.Exit(stacktest.Main(m, "../..")) }.
func Main(m *testing.M, root string) int {
	dir, err := os.MkdirTemp("", "rtt-stack-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	var pkgs []string
	for _, s := range []string{"ingest", "drift", "corridor", "sink"} {
		pkgs = append(pkgs, "./"+filepath.Join(root, "services", s))
	}
	build := exec.Command("go", append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the services:", err)
		return 1
	}
	return chxtest.Run(m)
}

// FreePort returns a TCP port free at the time of the call.
func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Proc is one service running as its own process.
type Proc struct {
	// Ready holds the string fields of the service's "ready" log line:
	// "ops" is the address of its /metrics and /readyz.
	Ready map[string]string

	name   string
	cmd    *exec.Cmd
	out    *syncBuffer
	done   chan struct{}
	killed bool
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs a service binary with env and waits until it logs
// "<name> ready" and its /readyz answers 200. Services listen on ports they
// pick themselves (":0"), named in that log line, so tests running in
// parallel never race for a port.
func Start(t *testing.T, name string, env []string) *Proc {
	t.Helper()
	p := &Proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binDir, name))
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(p.out.String(), 4000))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited during start:\n%s", name, p.out.String())
		default:
		}
		if p.Ready == nil {
			p.Ready = readyLine(p.out.String(), name)
		}
		if p.Ready != nil {
			resp, err := http.Get("http://" + p.Ready["ops"] + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return p
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60s:\n%s", name, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readyLine finds the JSON log line "<name> ready" in out and returns its
// string fields, with "ops" set to the address serving /readyz.
func readyLine(out, name string) map[string]string {
	for _, line := range strings.Split(out, "\n") {
		var fields map[string]any
		if json.Unmarshal([]byte(line), &fields) != nil || fields["message"] != name+" ready" {
			continue
		}
		m := map[string]string{}
		for k, v := range fields {
			if s, ok := v.(string); ok {
				m[k] = s
			}
		}
		if api, ok := m["api"]; ok { // ingest: http://host:port/api/rtt
			m["ops"] = strings.TrimSuffix(strings.TrimPrefix(api, "http://"), "/api/rtt")
		}
		return m
	}
	return nil
}

// Stop sends SIGTERM and waits for a clean exit (idempotent).
func (p *Proc) Stop(t *testing.T) {
	select {
	case <-p.done:
		if !p.killed && p.cmd.ProcessState.ExitCode() != 0 {
			t.Errorf("%s had exited with %d", p.name, p.cmd.ProcessState.ExitCode())
		}
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("%s exited with %d:\n%s", p.name, code, tail(p.out.String(), 3000))
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("%s did not stop within 30s", p.name)
	}
}

// Kill ends the process abruptly, as a crash would.
func (p *Proc) Kill() {
	p.killed = true
	p.cmd.Process.Kill()
	<-p.done
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// Stack is the four services on free ports around a shared ClickHouse.
type Stack struct {
	API, NATSURL, DB string
	Ingest, Drift    *Proc
	Corridor, Sink   *Proc

	env []string
}

// StartStack starts ingest (with its embedded NATS), drift, corridor and
// sink writing into database db, each ready when it returns, with extra
// environment variables for all four. They stop when the test ends.
func StartStack(t *testing.T, db string, extraEnv ...string) *Stack {
	t.Helper()
	s := &Stack{DB: db}
	ingestEnv := append([]string{
		"RTT_ADDR=127.0.0.1:0",
		"RTT_NATS_PORT=-1",
		"RTT_DATA_DIR=" + t.TempDir(),
		"RTT_LOG_LEVEL=info",
	}, extraEnv...)
	s.Ingest = Start(t, "ingest", ingestEnv)
	s.API, s.NATSURL = s.Ingest.Ready["api"], s.Ingest.Ready["nats"]
	s.env = append([]string{
		"RTT_NATS_URL=" + s.NATSURL,
		"RTT_CLICKHOUSE_ADDR=" + chxtest.Addr(t),
		"RTT_CLICKHOUSE_DATABASE=" + db,
		"RTT_LOG_LEVEL=info",
		"RTT_SINK_BATCH_AGE=100ms",
		"RTT_DRIFT_BATCH_AGE=50ms",
		"RTT_CORRIDOR_BATCH_AGE=50ms",
		"RTT_DRIFT_ADDR=127.0.0.1:0",
		"RTT_CORRIDOR_ADDR=127.0.0.1:0",
		"RTT_SINK_ADDR=127.0.0.1:0",
	}, extraEnv...)
	s.Drift = Start(t, "drift", s.env)
	s.Corridor = Start(t, "corridor", s.env)
	s.Sink = Start(t, "sink", s.env)
	return s
}

// RestartSink starts the sink again (after Kill or Stop).
func (s *Stack) RestartSink(t *testing.T) {
	t.Helper()
	s.Sink = Start(t, "sink", s.env)
}

// WaitFor polls fn every 200ms until it returns nil, failing the test
// with fn's last error after total.
func WaitFor(t *testing.T, total time.Duration, fn func() error) {
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
		time.Sleep(200 * time.Millisecond)
	}
}
