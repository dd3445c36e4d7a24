//go:build unix && !linux

package supervisor

import "syscall"

// sysProcAttr puts the child in a process group of its own (see the Linux
// version); there is no parent-death signal here, so the supervisor must stop
// its children itself.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
