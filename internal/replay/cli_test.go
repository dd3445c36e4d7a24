package replay

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestMainRejectsBeforeConnecting checks the errors that come from the
// command line alone: none of these cases reaches a server (there is none).
func TestMainRejectsBeforeConnecting(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "missing subcommand"},
		{[]string{"replay"}, `unknown subcommand "replay"`},
		{[]string{"export", "-source", "kafka"}, "-source: unknown source"},
		{[]string{"export", "-from", "2026-01-20", "-to", "2026-01-19"}, "-to: "},
		{[]string{"export", "-sites", ""}, "-sites"},
		{[]string{"export", "-pace", "-1"}, "-pace"},
		{[]string{"export", "-progress", "sometimes"}, "-progress"},
		{[]string{"export", "-out", "x.csv", "-format", "csv"}, "-format"},
		{[]string{"export", "extra"}, "unexpected arguments"},
		{[]string{"run", "-drift-confirm", "0"}, "-drift-confirm: "},
		{[]string{"run", "-drift-alpha", "1.5"}, "-drift-alpha: "},
		{[]string{"run", "-drift-cooldown", "-1s"}, "-drift-cooldown: "},
		{[]string{"run", "-corridor-alpha", "0"}, "-corridor-alpha"},
		{[]string{"run", "-corridor-budget", "read"}, "want NAME=MS"},
		{[]string{"run", "-corridor-budget", "read=-3"}, "above 0"},
		{[]string{"run", "-run-id", "live"}, "-run-id"},
		{[]string{"run", "-profiles", "file"}, "-profiles"},
		{[]string{"run", "-format", "parquet"}, "-format: only with -out"},
		{[]string{"show"}, "missing argument"},
		{[]string{"rm"}, "missing argument"},
		{[]string{"diff", "a"}, "missing argument"},
		{[]string{"list", "x"}, "unexpected arguments"},
	} {
		var out, errOut bytes.Buffer
		err := Main(context.Background(), tc.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("rtt replay %s: %v, want an error with %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

func TestMainHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := Main(context.Background(), []string{"help"}, &out, &errOut); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "rtt replay <subcommand>") {
		t.Errorf("help: %v %q", err, out.String())
	}
	out.Reset()
	errOut.Reset()
	if err := Main(context.Background(), []string{"run", "-h"}, &out, &errOut); !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut.String(), "-drift-threshold") {
		t.Errorf("run -h: %v %q", err, errOut.String())
	}
}

func TestCommandRepeatsTheRun(t *testing.T) {
	f := researchFlags{Budgets: map[string]float64{"write": 20, "read": 40.5}, Profiles: "kv", CorridorAlpha: 0.2}
	f.Source = "stream"
	f.Selection.Sites = []string{"lab 1"}
	f.Drift.Threshold, f.Drift.Confirm, f.Drift.Alpha = 0.3, 2, 0.05
	want := "rtt replay run -source stream -sites 'lab 1' -drift-threshold 0.3 -drift-confirm 2 -drift-alpha 0.05 -drift-cooldown 0s -corridor-alpha 0.2 -profiles kv -corridor-budget read=40.5 -corridor-budget write=20"
	if got := f.command(); got != want {
		t.Errorf("command\n got %s\nwant %s", got, want)
	}
	if got := paramsSummary(`{"drift":{"threshold":0.3,"confirm":2,"alpha":0.05,"cooldown":"0s"},"corridor":{"alpha":0.2,"budgets":{"read":40.5}}}`); got != "threshold=0.3 confirm=2 alpha=0.05 cooldown=0s corridor-alpha=0.2 budget[read]=40.5" {
		t.Errorf("paramsSummary = %q", got)
	}
}
