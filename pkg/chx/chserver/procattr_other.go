//go:build !linux

package chserver

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; Stop must be called.
func sysProcAttr() *syscall.SysProcAttr { return nil }
