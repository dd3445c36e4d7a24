//go:build linux

package supervisor

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as a supervising process that is then
// killed, for TestChildrenDieWithTheSupervisor.
func TestMain(m *testing.M) {
	if os.Getenv("SUPERVISOR_TEST_PARENT") == "1" {
		s := New(Options{})
		c, err := s.Start(Spec{Name: "orphan", Path: "sleep", Args: []string{"600"}})
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		fmt.Println("PID", c.Pid())
		select {} // until killed
	}
	os.Exit(m.Run())
}

func TestChildrenDieWithTheSupervisor(t *testing.T) {
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), "SUPERVISOR_TEST_PARENT=1")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, convErr := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "PID ")))
	if err != nil || convErr != nil {
		parent.Process.Kill()
		t.Fatalf("parent said %q, %v", line, err)
	}
	if !alive(pid) {
		t.Fatalf("child %d not running", pid)
	}

	parent.Process.Kill()
	parent.Wait()
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if alive(pid) {
			return fmt.Errorf("child %d still runs after its supervisor was killed", pid)
		}
		return nil
	})
}

// alive reports whether pid runs (a zombie waiting to be reaped does not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
