package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the supervisor's output goroutines.
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

// service is a fake long-running child: it says "started", and on SIGTERM
// appends its name to log and exits 0.
func service(t *testing.T, name, log string) Spec {
	t.Helper()
	script := fmt.Sprintf(`trap 'echo %s >> %s; kill $pid; exit 0' TERM; sleep 600 & pid=$!; echo started; wait`, name, log)
	return Spec{Name: name, Path: "/bin/sh", Args: []string{"-c", script}}
}

// startAll starts specs and stops the supervisor when the test ends.
func startAll(t *testing.T, s *Supervisor, specs ...Spec) []*Child {
	t.Helper()
	t.Cleanup(func() { s.Stop() })
	var cs []*Child
	for _, sp := range specs {
		c, err := s.Start(sp)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

// checkFor polls fn until it returns nil or total has passed.
func checkFor(t *testing.T, total, every time.Duration, fn func() error) {
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
		time.Sleep(every)
	}
}

func waitForLine(t *testing.T, out *syncBuffer, line string) {
	t.Helper()
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !strings.Contains(out.String(), line+"\n") {
			return fmt.Errorf("no line %q in output:\n%s", line, out)
		}
		return nil
	})
}

func TestStopGoesInReverseStartOrder(t *testing.T) {
	log := filepath.Join(t.TempDir(), "stopped")
	out := &syncBuffer{}
	s := New(Options{Out: out, PrefixWidth: 6})
	startAll(t, s, service(t, "first", log), service(t, "second", log), service(t, "third", log))
	for _, name := range []string{"first", "second", "third"} {
		waitForLine(t, out, fmt.Sprintf("%-6s | started", name))
	}

	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if want := "third\nsecond\nfirst\n"; string(got) != want {
		t.Errorf("stop order:\n%s\nwant:\n%s", got, want)
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err after Stop = %v, want nil", err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop = %v, want nil", err)
	}
	if _, err := s.Start(service(t, "late", log)); !errors.Is(err, ErrStopping) {
		t.Errorf("Start after Stop = %v, want ErrStopping", err)
	}
}

func TestChildExitStopsTheOthers(t *testing.T) {
	log := filepath.Join(t.TempDir(), "stopped")
	s := New(Options{})
	cs := startAll(t, s,
		service(t, "steady", log),
		Spec{Name: "flaky", Path: "/bin/sh", Args: []string{"-c", "sleep 0.3; echo 'cannot bind :8080' >&2; exit 3"}},
		service(t, "later", log),
	)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := s.Wait(ctx)
	var exit *ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("Wait = %v, want an *ExitError", err)
	}
	if exit.Name != "flaky" || !strings.Contains(exit.Tail, "cannot bind :8080") {
		t.Errorf("ExitError = %+v, want flaky with its last output", exit)
	}
	if msg := err.Error(); !strings.Contains(msg, "flaky exited unexpectedly (exit status 3)") {
		t.Errorf("message %q does not say which child exited and how", msg)
	}
	for _, c := range []*Child{cs[0], cs[2]} {
		select {
		case <-c.Done():
		default:
			t.Errorf("%s still running after Wait returned", c.Name())
		}
	}
	got, _ := os.ReadFile(log)
	if want := "later\nsteady\n"; string(got) != want {
		t.Errorf("the others were stopped as:\n%s\nwant:\n%s", got, want)
	}
}

func TestStopKillsAChildThatIgnoresSIGTERM(t *testing.T) {
	s := New(Options{StopTimeout: 300 * time.Millisecond})
	// exec keeps the ignored SIGTERM in sleep.
	cs := startAll(t, s, Spec{Name: "stubborn", Path: "/bin/sh", Args: []string{"-c", "trap '' TERM; exec sleep 600"}})
	time.Sleep(100 * time.Millisecond) // let the shell install the trap

	start := time.Now()
	err := s.Stop()
	if err == nil || !strings.Contains(err.Error(), "stubborn did not exit within 300ms of SIGTERM; killed it") {
		t.Errorf("Stop = %v, want it to report the kill", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Stop took %s", took)
	}
	select {
	case <-cs[0].Done():
	default:
		t.Error("child still running")
	}
}

func TestWaitReady(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ready" {
			w.Write([]byte("ok"))
			return
		}
		http.Error(w, "warming up", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	t.Run("all ready", func(t *testing.T) {
		s := New(Options{})
		cs := startAll(t, s,
			Spec{Name: "a", Path: "sleep", Args: []string{"600"}, ReadyURL: srv.URL + "/ready"},
			Spec{Name: "b", Path: "sleep", Args: []string{"600"}}, // no URL: ready once started
		)
		if err := s.WaitReady(context.Background(), 5*time.Second, cs...); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("timeout names the service", func(t *testing.T) {
		s := New(Options{})
		cs := startAll(t, s,
			Spec{Name: "quick", Path: "sleep", Args: []string{"600"}, ReadyURL: srv.URL + "/ready"},
			Spec{Name: "slowpoke", Path: "/bin/sh", Args: []string{"-c", "echo loading the model; exec sleep 600"}, ReadyURL: srv.URL + "/busy"},
		)
		start := time.Now()
		err := s.WaitReady(context.Background(), 500*time.Millisecond, cs...)
		var nr *NotReadyError
		if !errors.As(err, &nr) || nr.Name != "slowpoke" {
			t.Fatalf("WaitReady = %v, want a *NotReadyError for slowpoke", err)
		}
		for _, want := range []string{"slowpoke did not become ready within 500ms", "503 Service Unavailable: warming up", "loading the model"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if took := time.Since(start); took < 500*time.Millisecond || took > 5*time.Second {
			t.Errorf("WaitReady took %s for a 500ms timeout", took)
		}
	})

	t.Run("a child that exits is reported at once", func(t *testing.T) {
		s := New(Options{})
		cs := startAll(t, s,
			Spec{Name: "waiting", Path: "sleep", Args: []string{"600"}, ReadyURL: srv.URL + "/busy"},
			Spec{Name: "crashing", Path: "/bin/sh", Args: []string{"-c", "echo panic: oops; exit 2"}},
		)
		start := time.Now()
		err := s.WaitReady(context.Background(), time.Minute, cs[0])
		var exit *ExitError
		if !errors.As(err, &exit) || exit.Name != "crashing" || !strings.Contains(exit.Tail, "panic: oops") {
			t.Fatalf("WaitReady = %v, want the *ExitError of crashing", err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("took %s to notice", took)
		}
		<-s.Done() // the exit stopped the rest
	})

	t.Run("connection refused", func(t *testing.T) {
		s := New(Options{})
		cs := startAll(t, s, Spec{Name: "deaf", Path: "sleep", Args: []string{"600"}, ReadyURL: "http://127.0.0.1:1/readyz"})
		err := s.WaitReady(context.Background(), 300*time.Millisecond, cs...)
		if err == nil || !strings.Contains(err.Error(), "deaf did not become ready") || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("WaitReady = %v", err)
		}
	})
}

func TestStartFailureNamesTheChild(t *testing.T) {
	s := New(Options{})
	defer s.Stop()
	_, err := s.Start(Spec{Name: "ghost", Path: filepath.Join(t.TempDir(), "missing")})
	if err == nil || !strings.HasPrefix(err.Error(), "start ghost: ") {
		t.Fatalf("Start = %v", err)
	}
}

func TestPrefixWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"whole lines", []string{"a\nb\n"}, "x | a\nx | b\n"},
		{"split line", []string{"hel", "lo\nwor", "ld\n"}, "x | hello\nx | world\n"},
		{"crlf", []string{"dos\r\n"}, "x | dos\n"},
		{"crlf split between writes", []string{"dos\r", "\nunix\n"}, "x | dos\nx | unix\n"},
		{"progress rewritten in place", []string{"\rsent 1", "\rsent 22   ", "\r        ", "\rdone\n"}, "x | sent 1\nx | sent 22\nx | done\n"},
		{"blank line kept", []string{"a\n\nb\n"}, "x | a\nx | \nx | b\n"},
		{"last line without newline", []string{"one\ntwo"}, "x | one\nx | two\n"},
		{"long line", []string{strings.Repeat("z", maxLine+5), "\n"}, "x | " + strings.Repeat("z", maxLine) + "\nx | zzzzz\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tail := &tailBuffer{max: 1 << 20}
			w := &prefixWriter{out: &lineOut{w: &out}, prefix: []byte("x | "), tail: tail}
			for _, s := range tt.writes {
				w.Write([]byte(s))
			}
			w.flush()
			if out.String() != tt.want {
				t.Errorf("got %q, want %q", out.String(), tt.want)
			}
			if got := strings.Join(tt.writes, ""); string(tail.buf) != got {
				t.Errorf("tail %q, want the raw output %q", tail.buf, got)
			}
		})
	}
}

func TestTailBufferKeepsTheLastLines(t *testing.T) {
	tb := &tailBuffer{max: 20}
	for i := range 10 {
		fmt.Fprintf(tb, "line %d\n", i)
	}
	if got, want := strings.Join(tb.lines(5), "|"), "line 8|line 9"; got != want {
		t.Errorf("lines = %q, want %q (the cut first line dropped)", got, want)
	}
}
