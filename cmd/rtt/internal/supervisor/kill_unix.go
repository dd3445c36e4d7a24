//go:build unix

package supervisor

import (
	"os"
	"syscall"
)

// killGroup sends SIGKILL to the process group the child leads, which takes
// its own children (such as the ClickHouse server under "rtt clickhouse")
// with it.
func killGroup(p *os.Process) {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		_ = p.Kill()
	}
}
