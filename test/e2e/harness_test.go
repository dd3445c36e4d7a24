package e2e

import (
	"bytes"
	"context"
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

// binDir holds the service binaries built once for the package.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rtt-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", dir+"/", "../../services/ingest", "../../services/drift", "../../services/corridor", "../../services/sink")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the services:", err)
		os.Exit(1)
	}
	code := chxtest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is one service running as its own process.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
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

// start runs a service binary with env and waits until readyURL answers 200.
func start(t *testing.T, name string, env []string, readyURL string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binDir, name))
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited during start:\n%s", name, p.out.String())
		default:
		}
		resp, err := http.Get(readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready at %s after 60s:\n%s", name, readyURL, p.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
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

// kill ends the process abruptly, as a crash would.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// stack is the four services on free ports around a shared ClickHouse.
type stack struct {
	api, natsURL, db string
	env              []string
	sinkReady        string
	ingest, drift    *proc
	corridor, sink   *proc
}

func startStack(t *testing.T, db string) *stack {
	t.Helper()
	s := &stack{db: db}
	apiPort, natsPort := freePort(t), freePort(t)
	s.api = fmt.Sprintf("http://127.0.0.1:%d/api/rtt", apiPort)
	s.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	s.env = []string{
		"RTT_NATS_URL=" + s.natsURL,
		"RTT_CLICKHOUSE_ADDR=" + chxtest.Addr(t),
		"RTT_CLICKHOUSE_DATABASE=" + db,
		"RTT_LOG_LEVEL=info",
		"RTT_SINK_BATCH_AGE=100ms",
		"RTT_DRIFT_BATCH_AGE=50ms",
		"RTT_CORRIDOR_BATCH_AGE=50ms",
	}
	ingestEnv := []string{
		fmt.Sprintf("RTT_ADDR=127.0.0.1:%d", apiPort),
		fmt.Sprintf("RTT_NATS_PORT=%d", natsPort),
		"RTT_DATA_DIR=" + t.TempDir(),
		"RTT_LOG_LEVEL=info",
	}
	s.ingest = start(t, "ingest", ingestEnv, strings.TrimSuffix(s.api, "/api/rtt")+"/readyz")
	driftPort, corridorPort, sinkPort := freePort(t), freePort(t), freePort(t)
	s.drift = start(t, "drift", append(s.env, fmt.Sprintf("RTT_DRIFT_ADDR=127.0.0.1:%d", driftPort)), fmt.Sprintf("http://127.0.0.1:%d/readyz", driftPort))
	s.corridor = start(t, "corridor", append(s.env, fmt.Sprintf("RTT_CORRIDOR_ADDR=127.0.0.1:%d", corridorPort)), fmt.Sprintf("http://127.0.0.1:%d/readyz", corridorPort))
	s.env = append(s.env, fmt.Sprintf("RTT_SINK_ADDR=127.0.0.1:%d", sinkPort))
	s.sinkReady = fmt.Sprintf("http://127.0.0.1:%d/readyz", sinkPort)
	s.sink = start(t, "sink", s.env, s.sinkReady)
	return s
}

func (s *stack) restartSink(t *testing.T) {
	t.Helper()
	s.sink = start(t, "sink", s.env, s.sinkReady)
}

func waitFor(t *testing.T, total time.Duration, fn func() error) {
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

var _ = context.Background
