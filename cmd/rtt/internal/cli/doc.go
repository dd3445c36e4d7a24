// Package cli is the command line of the rtt binary: it picks a subcommand
// by the first argument and parses its flags, which can also be set by
// RTT_* environment variables (see pkg/svc).
package cli
