package stack

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// deadPID returns the id of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// markerFixture writes a ready marker for a stack whose services are the
// handlers of one test server, and returns its data folder.
func markerFixture(t *testing.T, pid int, h http.HandlerFunc) (dataDir string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	dataDir = t.TempDir()
	os.MkdirAll(RunDir(dataDir), 0o755)
	e := Endpoints{PID: pid, API: srv.URL + APIPath, NATS: "nats://127.0.0.1:4222", DataDir: dataDir,
		Services: []ServiceEndpoints{
			{Name: "clickhouse", Ready: srv.URL + "/ping"},
			{Name: "drift", Ready: srv.URL + "/drift/readyz", Metrics: srv.URL + "/drift/metrics"},
		}}
	if err := writeMarker(MarkerPath(dataDir), e); err != nil {
		t.Fatal(err)
	}
	return dataDir
}

func TestWaitReady(t *testing.T) {
	ok := func(w http.ResponseWriter, r *http.Request) {}
	driftBusy := func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/drift") {
			http.Error(w, "not connected to NATS", http.StatusServiceUnavailable)
		}
	}
	self := os.Getpid()
	dead := deadPID(t)
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()

	t.Run("ready", func(t *testing.T) {
		dir := markerFixture(t, self, ok)
		var out bytes.Buffer
		if err := WaitReady(context.Background(), WaitConfig{DataDir: dir, Timeout: 5 * time.Second, PID: self}, &out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "rtt is ready (pid "+strconv.Itoa(self)+")") || !strings.Contains(out.String(), "/drift/metrics") {
			t.Errorf("output:\n%s", out.String())
		}
	})

	tests := []struct {
		name    string
		dir     func(t *testing.T) string
		pid     int
		timeout time.Duration
		want    []string
	}{
		{"a service is not ready", func(t *testing.T) string { return markerFixture(t, self, driftBusy) }, 0, 600 * time.Millisecond,
			[]string{"not ready within 600ms", "drift not ready", "503 Service Unavailable: not connected to NATS", "last lines of"}},
		{"no marker", func(t *testing.T) string { return t.TempDir() }, 0, 300 * time.Millisecond,
			[]string{"not ready within 300ms: no ready marker at"}},
		{"stale marker", func(t *testing.T) string { return markerFixture(t, dead, ok) }, 0, 300 * time.Millisecond,
			[]string{"is stale: rtt dev (pid " + strconv.Itoa(dead) + ") is not running"}},
		{"marker of another rtt dev", func(t *testing.T) string { return markerFixture(t, self, ok) }, other.Process.Pid, 300 * time.Millisecond,
			[]string{"is of pid " + strconv.Itoa(self) + ", not of " + strconv.Itoa(other.Process.Pid)}},
		{"rtt dev exited", func(t *testing.T) string { return t.TempDir() }, dead, time.Minute,
			[]string{"rtt dev (pid " + strconv.Itoa(dead) + ") exited before it was ready", "last lines of", "address already in use"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			log := filepath.Join(t.TempDir(), "rtt.log")
			os.WriteFile(log, []byte("rtt | starting\nrtt dev: addr: address already in use\n"), 0o644)
			start := time.Now()
			err := WaitReady(context.Background(), WaitConfig{DataDir: dir, Timeout: tt.timeout, PID: tt.pid, Log: log}, &bytes.Buffer{})
			if err == nil {
				t.Fatal("WaitReady = nil")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			if took := time.Since(start); took > tt.timeout+5*time.Second {
				t.Errorf("took %s", took)
			}
		})
	}
}

func TestAcquirePID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rtt.pid")

	// Another rtt dev that runs: refused.
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	os.WriteFile(path, []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644)
	if _, err := acquirePID(path); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("acquirePID with a live pid = %v", err)
	}

	// One that has exited: taken over, and removed on release.
	os.WriteFile(path, []byte(strconv.Itoa(deadPID(t))+"\n"), 0o644)
	release, err := acquirePID(path)
	if err != nil {
		t.Fatal(err)
	}
	if pid, err := readPID(path); err != nil || pid != os.Getpid() {
		t.Fatalf("pid file holds %d, %v", pid, err)
	}
	release()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("pid file still there after release: %v", err)
	}
}
