package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Main runs rtt-bench with args: it parses the flags, runs the bench,
// prints the table to stdout and writes the JSON. It returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := Defaults()
	fs := flag.NewFlagSet("rtt-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Runs, "runs", cfg.Runs, "runs of each figure; the median is reported")
	fs.IntVar(&cfg.Beacons, "beacons", cfg.Beacons, "beacons per throughput run (raw JetStream, ingest, sink, raw ClickHouse)")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "beacons per POST /beacons")
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "POST /beacons in flight at once when measuring ingest")
	fs.DurationVar(&cfg.Window, "window", cfg.Window, "measured time of each end-to-end step (after a third of it as warm-up)")
	fs.IntVar(&cfg.Sites, "sites", cfg.Sites, "simulated datacenters")
	fs.StringVar(&cfg.Out, "out", cfg.Out, "JSON file the figures are written to")
	fs.StringVar(&cfg.BinDir, "bin-dir", "", "prebuilt service binaries (empty: build them)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the work folder (data and service logs)")
	fs.BoolVar(&cfg.GoBench, "go-bench", cfg.GoBench, "also run the Go benchmarks of the hot functions")
	fs.Float64Var(&cfg.E2ERate, "e2e-rate", 0, "skip the end-to-end search and measure at this offered rate (for profiling)")
	only := fs.String("only", "", "comma-separated phases to run: jetstream, ingest, sink, clickhouse, e2e, go (sink needs ingest, clickhouse needs sink)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./cmd/rtt-bench [flags]\n\n"+
			"Measures rtt on this machine beside raw NATS JetStream and ClickHouse, prints\n"+
			"the figures and writes them as JSON. Needs go and a ClickHouse server binary\n"+
			"(make clickhouse). About 7 minutes on 2 cores with the defaults.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	rep, err := Run(ctx, cfg, stderr)
	if rep != nil && len(rep.Figures) > 0 {
		fmt.Fprintln(stdout)
		rep.WriteTable(stdout)
		if werr := rep.WriteJSON(cfg.Out); werr != nil {
			fmt.Fprintln(stderr, "rtt-bench:", werr)
			return 1
		}
		fmt.Fprintf(stdout, "\nwritten to %s\n", cfg.Out)
	}
	if err != nil {
		fmt.Fprintln(stderr, "rtt-bench:", err)
		return 1
	}
	return 0
}
