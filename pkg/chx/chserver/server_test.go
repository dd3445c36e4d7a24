package chserver

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// query runs sql over the HTTP interface and returns the trimmed answer.
func query(t *testing.T, httpAddr, sql string) string {
	t.Helper()
	// Keep-alive connections would delay the server's shutdown by keep_alive_timeout.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Post("http://"+httpAddr+"/", "text/plain", strings.NewReader(sql))
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("query %q: %s: %s", sql, resp.Status, body)
	}
	return strings.TrimSpace(string(body))
}

// syncBuffer is a bytes.Buffer safe for the server's output goroutines.
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

func TestStartStopRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()

	s, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	if _, _, err := net.SplitHostPort(s.Addr()); err != nil || s.Addr() == s.HTTPAddr() {
		t.Fatalf("Addr %q, HTTPAddr %q", s.Addr(), s.HTTPAddr())
	}
	if v := query(t, s.HTTPAddr(), "SELECT version()"); v == "" {
		t.Fatal("empty version")
	} else {
		t.Logf("ClickHouse %s at %s (http %s)", v, s.Addr(), s.HTTPAddr())
	}
	query(t, s.HTTPAddr(), "CREATE TABLE default.kept (x UInt32) ENGINE = MergeTree ORDER BY x")
	query(t, s.HTTPAddr(), "INSERT INTO default.kept VALUES (7)")

	// The native port answers too.
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		t.Fatalf("native port: %v", err)
	}
	c.Close()

	for i := range 2 {
		if err := s.Stop(); err != nil {
			t.Fatalf("Stop #%d: %v", i+1, err)
		}
	}
	if err := s.Wait(); err != nil {
		t.Fatalf("Wait after Stop: %v", err)
	}
	if _, err := net.DialTimeout("tcp", s.HTTPAddr(), time.Second); err == nil {
		t.Fatal("server still answers after Stop")
	}
	log, err := os.ReadFile(filepath.Join(dir, "log", "clickhouse-server.log"))
	if err != nil || !bytes.Contains(log, []byte("Ready for connections")) {
		t.Fatalf("log file: %v\n%s", err, log)
	}

	// Same folder, fixed ports, console log to a writer: the data is still there.
	ports := freePorts(t, 2)
	var out syncBuffer
	s2, err := Start(ctx, Options{Dir: dir, TCPPort: ports[0], HTTPPort: ports[1], Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])); s2.Addr() != want {
		t.Fatalf("Addr = %q, want %q", s2.Addr(), want)
	}
	if got := query(t, s2.HTTPAddr(), "SELECT sum(x) FROM default.kept"); got != "7" {
		t.Fatalf("data after restart = %q, want 7", got)
	}
	if err := s2.Stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Ready for connections") {
		t.Fatalf("Stdout/Stderr did not get the console log:\n%s", out.String())
	}
}

func TestStartPortTakenShowsLog(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port

	start := time.Now()
	_, err = Start(context.Background(), Options{Dir: t.TempDir(), TCPPort: taken, HTTPPort: freePorts(t, 1)[0]})
	if err == nil {
		t.Fatal("Start succeeded on a taken port")
	}
	t.Logf("after %v: %v", time.Since(start), err)
	if !errors.Is(err, errPortTaken) || !strings.Contains(err.Error(), "--- last lines of server log") {
		t.Fatalf("error lacks the cause or the log tail: %v", err)
	}
}

func TestStartTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err := Start(ctx, Options{Dir: t.TempDir()})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestMissingBinary(t *testing.T) {
	_, _, err := findBinary(
		func(name string) (string, error) { return "", fmt.Errorf("%s: not found", name) },
		func(string) bool { return false },
	)
	if !errors.Is(err, ErrNoBinary) || !strings.Contains(err.Error(), "apt-get install -y clickhouse-server") {
		t.Fatalf("findBinary: %v", err)
	}

	for _, bin := range []string{filepath.Join(t.TempDir(), "clickhouse-server"), "no-such-clickhouse-server"} {
		_, err := Start(context.Background(), Options{Dir: t.TempDir(), Binary: bin})
		if !errors.Is(err, ErrNoBinary) || !strings.Contains(err.Error(), InstallHint) {
			t.Fatalf("Start with Binary %q: %v", bin, err)
		}
	}
}

func TestFindBinaryOrder(t *testing.T) {
	tests := []struct {
		name     string
		inPath   map[string]string
		files    map[string]bool
		wantPath string
		wantArgs []string
	}{
		{"path first", map[string]string{"clickhouse-server": "/opt/ch/clickhouse-server"}, map[string]bool{"/usr/sbin/clickhouse-server": true}, "/opt/ch/clickhouse-server", nil},
		{"usr sbin", nil, map[string]bool{"/usr/sbin/clickhouse-server": true, "/usr/bin/clickhouse": true}, "/usr/sbin/clickhouse-server", nil},
		{"all in one in path", map[string]string{"clickhouse": "/opt/clickhouse"}, nil, "/opt/clickhouse", []string{"server"}},
		{"all in one", nil, map[string]bool{"/usr/bin/clickhouse": true}, "/usr/bin/clickhouse", []string{"server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, args, err := findBinary(
				func(name string) (string, error) {
					if p, ok := tt.inPath[name]; ok {
						return p, nil
					}
					return "", errors.New("not found")
				},
				func(p string) bool { return tt.files[p] },
			)
			if err != nil || path != tt.wantPath || fmt.Sprint(args) != fmt.Sprint(tt.wantArgs) {
				t.Fatalf("got %q %q %v, want %q %q", path, args, err, tt.wantPath, tt.wantArgs)
			}
		})
	}
}

func TestInstallWhenPresent(t *testing.T) {
	if _, _, err := FindBinary(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Install(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "found at") {
		t.Fatalf("output: %q", out.String())
	}
}

func TestConfigIsXML(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a&b <dir>")
	l, err := newLayout(dir, "::1", 9000, 8123)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.write(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{l.Config, l.UsersFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			XMLName xml.Name
			Path    string `xml:"path"`
		}
		if err := xml.Unmarshal(b, &doc); err != nil || doc.XMLName.Local != "yandex" {
			t.Fatalf("%s: root %q, %v", f, doc.XMLName.Local, err)
		}
		if f == l.Config && doc.Path != l.Data+"/" {
			t.Fatalf("path = %q, want %q", doc.Path, l.Data+"/")
		}
	}
}

func TestTailBuffer(t *testing.T) {
	b := newTailBuffer(10)
	io.WriteString(b, "line1\nline2\nline3\n")
	if got := b.String(); got != "line3\n" {
		t.Fatalf("tail = %q", got)
	}
	b = newTailBuffer(100)
	io.WriteString(b, "a\nb\n")
	if got := b.String(); got != "a\nb\n" {
		t.Fatalf("tail = %q", got)
	}
}

// freePorts returns n ports that were free a moment ago.
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
