// Package replaycmd is the "rtt replay" command: export a slice of the
// beacon stream (or of ClickHouse) to NDJSON or Parquet, rerun the drift
// and corridor analysis over it as a research run stored apart from the
// live results, and list, show, remove and compare runs. The work is done
// by internal/replay, which the end-to-end tests drive through the same
// entry point; docs/replay.md is the walkthrough.
package replaycmd

import (
	"context"
	"io"

	"github.com/rtt-dev/rtt/internal/replay"
)

// Main runs "rtt replay" with args (the words after "replay"): export, run,
// list, show, rm or diff. Results go to stdout, progress and notices to
// stderr. It returns flag.ErrHelp after -h and an error (naming the flag
// when one is at fault) otherwise; an interrupted run (ctx ended) removes
// what it stored before it returns ctx's error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return replay.Main(ctx, args, stdout, stderr)
}
