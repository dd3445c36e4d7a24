// Package supervisor runs a set of child processes the way a process manager
// (foreman, overmind) does for local development: each child's output is
// copied line by line with its name in front, readiness is polled over HTTP,
// the first child to exit by itself brings the others down, and stopping goes
// in reverse start order (SIGTERM, a grace period, then SIGKILL).
//
// On Linux every child also gets a parent-death signal, so that nothing is
// left running when the supervising process is killed, and its own process
// group, so that a Ctrl-C typed in the terminal reaches only the supervisor,
// which then stops the children in order.
package supervisor
