//go:build linux

package chserver

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary act as a parent process that starts a server
// and is then killed, for TestServerDiesWithParent.
func TestMain(m *testing.M) {
	if dir := os.Getenv("CHSERVER_TEST_PARENT_DIR"); dir != "" {
		s, err := Start(context.Background(), Options{Dir: dir})
		if err != nil {
			os.Stdout.WriteString("ERROR " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("HTTP " + s.HTTPAddr() + "\n")
		select {} // until killed
	}
	os.Exit(m.Run())
}

func TestServerDiesWithParent(t *testing.T) {
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), "CHSERVER_TEST_PARENT_DIR="+t.TempDir())
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP ") {
		parent.Process.Kill()
		t.Fatalf("parent said %q, %v", line, err)
	}
	ping := "http://" + strings.TrimSpace(strings.TrimPrefix(line, "HTTP ")) + "/ping"
	if _, err := http.Get(ping); err != nil {
		t.Fatalf("server not up: %v", err)
	}

	parent.Process.Kill()
	parent.Wait()
	client := &http.Client{Timeout: 200 * time.Millisecond}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(ping)
		if err != nil {
			return // gone
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still answers 10s after its parent was killed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
