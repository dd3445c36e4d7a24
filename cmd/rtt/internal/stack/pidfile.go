package stack

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// acquirePID writes this process's id to path, unless the id of another
// process that still runs is there. release removes the file if it still
// holds this process's id.
func acquirePID(path string) (release func(), err error) {
	self := os.Getpid()
	if pid, err := readPID(path); err == nil && pid != self && processAlive(pid) {
		return nil, fmt.Errorf("already running with this data folder (pid %d, %s); stop it with 'make down' or 'kill %d'", pid, path, pid)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(self)+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	return func() {
		if pid, err := readPID(path); err == nil && pid == self {
			os.Remove(path)
		}
	}, nil
}

// readPID reads a pid file. The error wraps fs.ErrNotExist when there is
// none.
func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is not a process id", path, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// processAlive reports whether a process with this id runs. A zombie (exited
// but not yet reaped) does not count.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	if err := p.Signal(syscall.Signal(0)); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc here: trust the signal
	}
	// The state follows the command name, which is in parentheses.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
