package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rtt-dev/rtt/cmd/rtt/internal/beaconcmd"
	"github.com/rtt-dev/rtt/cmd/rtt/internal/check"
	"github.com/rtt-dev/rtt/cmd/rtt/internal/replaycmd"
	"github.com/rtt-dev/rtt/cmd/rtt/internal/stack"
	"github.com/rtt-dev/rtt/internal/loadgen"
	"github.com/rtt-dev/rtt/pkg/svc"
)

// command is one subcommand of rtt.
type command struct {
	name    string
	args    string // shown after the name in usage
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands in the order help shows them.
func commands() []command {
	return []command{
		{"dev", "[flags]", "run ClickHouse, ingest (with NATS), drift, corridor and sink until Ctrl-C (make run)", runDev},
		{"wait-ready", "[flags]", "wait until the stack started by 'rtt dev' is ready and print its endpoints (make up)", runWaitReady},
		{"clickhouse", "[flags]", "run the private ClickHouse server of 'rtt dev' alone until Ctrl-C", runClickHouse},
		{"loadgen", "[flags]", "generate beacon load against the API", runLoadgen},
		{"replay", "<subcommand> [flags]", "export a slice of the beacons, rerun analysis as research runs, list/show/rm/diff them (docs/replay.md)", replaycmd.Main},
		{"beacon", "--site S --event E [flags]", "send one beacon, e.g. from a CI/CD job (deployment_start, deployment_finish)", runBeacon},
		{"check", "[flags]", "run the RTT-Inside verification checklist against a deployment", runCheck},
		{"help", "[command]", "list the commands, or show a command's flags", nil},
	}
}

// Main runs the rtt command line with args (without the program name) and
// returns the process exit code: 0 on success or -h, 1 when the command
// failed, 2 for an unknown command, or the code the command's error asks
// for (beacon: 1 refused, 2 usage, 3 unavailable; check: 1 an item failed,
// 2 usage). Errors go to stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] != "help" {
			return Main(ctx, []string{rest[0], "-h"}, stdout, stdout)
		}
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != name || c.run == nil {
			continue
		}
		err := c.run(ctx, rest, stdout, stderr)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		default:
			fmt.Fprintf(stderr, "rtt %s: %v\n", name, err)
			var ec exitCoder
			if errors.As(err, &ec) {
				return ec.ExitCode()
			}
			return 1
		}
	}
	fmt.Fprintf(stderr, "rtt: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}

// exitCoder is an error that chooses rtt's exit code.
type exitCoder interface{ ExitCode() int }

func usage(w io.Writer) {
	fmt.Fprintf(w, "rtt runs the rtt pipeline on one machine.\n\nUsage: rtt <command> [flags]\n\nCommands:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nFlags can also be set by environment variables: RTT_<FLAG> (-clickhouse-port is\nRTT_CLICKHOUSE_PORT), RTT_LOADGEN_<FLAG> for loadgen, RTT_BEACON_<FLAG> for beacon,\nRTT_CHECK_<FLAG> for check; these three take the API's URL and token from\nRTT_URL and RTT_TOKEN. Run 'rtt help <command>' for a command's flags.\n")
}

// newFlagSet returns a flag set whose usage names the command and the
// environment variables.
func newFlagSet(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rtt "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: rtt %s [flags]\n\n%s.\n\nFlags (each also RTT_<FLAG>, e.g. -data-dir is RTT_DATA_DIR):\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

func summaryOf(name string) string {
	for _, c := range commands() {
		if c.name == name {
			return strings.ToUpper(c.summary[:1]) + c.summary[1:]
		}
	}
	return ""
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg stack.Config
	fs := newFlagSet("dev", summaryOf("dev"), stderr)
	cfg.Register(fs)
	if err := svc.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return stack.Dev(ctx, cfg, stack.DevOptions{Stdout: stdout, Stderr: stderr, Demo: demo})
}

// demo runs the load generator with its default arguments against api.
func demo(ctx context.Context, api string, stdout, stderr io.Writer) error {
	return loadgen.Main(ctx, []string{"-url", api}, stdout, stderr)
}

func runWaitReady(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg stack.WaitConfig
	fs := newFlagSet("wait-ready", summaryOf("wait-ready"), stderr)
	fs.StringVar(&cfg.DataDir, "data-dir", stack.DefaultDataDir, "data folder of the stack (where 'rtt dev' keeps run/ready)")
	fs.DurationVar(&cfg.Timeout, "timeout", 90*time.Second, "how long to wait")
	fs.IntVar(&cfg.PID, "pid", 0, "process id of the 'rtt dev' to wait for; fail as soon as it exits")
	fs.StringVar(&cfg.Log, "log", "", "log file of 'rtt dev', quoted when waiting fails")
	if err := svc.Parse(fs, args); err != nil {
		return err
	}
	return stack.WaitReady(ctx, cfg, stdout)
}

func runClickHouse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg stack.ClickHouseConfig
	fs := newFlagSet("clickhouse", summaryOf("clickhouse"), stderr)
	cfg.Register(fs)
	install := fs.Bool("install", true, "install clickhouse-server with apt-get first if it is missing (needs root)")
	if err := svc.Parse(fs, args); err != nil {
		return err
	}
	return stack.ClickHouse(ctx, cfg, *install, stdout, stderr)
}

func runBeacon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return beaconcmd.Main(ctx, args, os.Stdin, stdout, stderr)
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return check.Main(ctx, args, stdout, stderr)
}

func runLoadgen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return loadgen.Main(ctx, args, stdout, stderr)
}
