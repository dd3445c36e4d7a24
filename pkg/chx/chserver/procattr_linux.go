//go:build linux

package chserver

import "syscall"

// sysProcAttr asks the kernel to kill the server when the process that started
// it dies, so that a test binary killed by a timeout does not leak servers.
// Pdeathsig fires when the creating OS thread exits; Go only ends threads of
// goroutines that exit while locked to them, which Start never does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
