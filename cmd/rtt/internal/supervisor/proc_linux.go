//go:build linux

package supervisor

import "syscall"

// sysProcAttr puts the child in a process group of its own, so that a Ctrl-C
// typed in the terminal reaches only the supervisor (which then stops the
// children in order), and has the kernel kill the child when the supervisor
// dies, so that nothing leaks if it is killed. Pdeathsig fires when the OS
// thread that started the child exits; Go ends threads only for goroutines
// that exit while locked to them, which Start never does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
