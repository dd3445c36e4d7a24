package replay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// cleanupTimeout bounds what an interrupted or failed run does to remove
// its results, after ctx ended.
const cleanupTimeout = 30 * time.Second

// ExportConfig is an export of a slice to a file.
type ExportConfig struct {
	Source    Source
	Selection Selection
	// Out is the file ("-": Stdout); Format is FormatNDJSON or
	// FormatParquet.
	Out, Format string
	Stdout      io.Writer
	Pace        float64
	Progress    io.Writer
}

// Export writes the selected beacons to cfg.Out. An empty selection is an
// error wrapping ErrEmptySelection, and, like an interrupted export, leaves
// no file.
func Export(ctx context.Context, cfg ExportConfig) (Stats, error) {
	out, err := CreateOutput(cfg.Out, cfg.Format, cfg.Stdout, Meta{Selection: cfg.Selection.String(), Source: cfg.Source.Name()})
	if err != nil {
		return Stats{}, err
	}
	p := Pass{Source: cfg.Source, Selection: cfg.Selection, Pace: cfg.Pace, Outputs: []Output{out}, Progress: cfg.Progress}
	st, err := p.Run(ctx)
	if err == nil && st.Selected == 0 {
		err = emptyError(cfg.Source, cfg.Selection, st)
	}
	if err != nil {
		out.Abort()
		return st, err
	}
	return st, out.Close()
}

func emptyError(src Source, sel Selection, st Stats) error {
	var b strings.Builder
	fmt.Fprintf(&b, "no beacon in %s matches %s", src.Name(), sel)
	if st.Read > 0 {
		fmt.Fprintf(&b, " (%d read, none matched", st.Read)
		if st.Unreadable > 0 {
			fmt.Fprintf(&b, ", %d unreadable", st.Unreadable)
		}
		b.WriteString(")")
	}
	b.WriteString("; widen -from/-to, -arrived-from/-arrived-to, -sites or -events")
	if src.Name() == "stream" {
		b.WriteString(", or read older data with -source clickhouse")
	}
	return fmt.Errorf("%w: %s", ErrEmptySelection, b.String())
}

// ResearchConfig is a research run.
type ResearchConfig struct {
	// RunID names the run; empty generates one (NewRunID).
	RunID     string
	Source    Source
	Selection Selection
	Params    Params
	// ParamsRecord is recorded with the run as its parameters (JSON); the
	// corridors used for the sites of the slice are added as
	// "corridors_used".
	ParamsRecord map[string]any
	// Command is the command line that repeats the run, recorded with it.
	Command string
	// Store keeps the run; nil is a dry run: records are only counted and
	// digested.
	Store *Store
	// Out, when set, also exports the slice (Format as in ExportConfig).
	Out, Format string
	Stdout      io.Writer
	Pace        float64
	Progress    io.Writer
}

// NewRunID returns a fresh run id: "r-", the UTC time to the second and 4
// random hex digits.
func NewRunID(now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return "r-" + now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// Research runs the drift and corridor analysis over the selected beacons
// and, unless it is a dry run, stores the records under the run id in the
// replay tables. The run is recorded as running first and as done, with its
// counts and digest, once every record is stored. When ctx ends (Ctrl-C) or
// anything fails, the records written so far are dropped and the run is
// recorded as interrupted or failed, so no partial run is ever listed. An
// empty selection is an error wrapping ErrEmptySelection.
func Research(ctx context.Context, cfg ResearchConfig) (RunRecord, error) {
	if cfg.RunID == "" {
		cfg.RunID = NewRunID(time.Now())
	}
	if err := ValidateRunID(cfg.RunID); err != nil {
		return RunRecord{}, err
	}
	if err := cfg.Params.Validate(); err != nil {
		return RunRecord{}, err
	}
	sel, _ := json.Marshal(cfg.Selection.record(cfg.Source.Name()))
	rec := RunRecord{
		RunID: cfg.RunID, Status: StatusRunning, CreatedAt: time.Now().UTC(), Source: cfg.Source.Name(),
		Selection: string(sel), Params: paramsJSON(cfg.ParamsRecord, nil), Command: cfg.Command,
	}
	// Results are written with a context that Ctrl-C does not cancel, so
	// that an INSERT in flight completes before the cleanup drops it.
	storeCtx := context.WithoutCancel(ctx)
	var results *resultWriter
	if cfg.Store != nil {
		old, ok, err := cfg.Store.Run(ctx, cfg.RunID)
		if err != nil {
			return rec, err
		}
		if ok && (old.Status == StatusDone || old.Status == StatusRunning) {
			return rec, fmt.Errorf("%w: run %s is %s (created %s); remove it with 'rtt replay rm %s' or choose another -run-id",
				ErrRunExists, cfg.RunID, old.Status, old.CreatedAt.Format(time.RFC3339), cfg.RunID)
		}
		if err := cfg.Store.DropResults(ctx, cfg.RunID); err != nil { // leftovers of an earlier attempt
			return rec, err
		}
		if err := cfg.Store.PutRun(ctx, rec); err != nil {
			return rec, err
		}
		results = cfg.Store.results(storeCtx)
	}
	var sink Results
	if results != nil {
		sink = results
	}
	an := NewAnalyzer(cfg.RunID, cfg.Params, sink)
	p := Pass{Source: cfg.Source, Selection: cfg.Selection, Pace: cfg.Pace, Analyzer: an, Progress: cfg.Progress}
	var out Output
	if cfg.Out != "" {
		var err error
		out, err = CreateOutput(cfg.Out, cfg.Format, cfg.Stdout, Meta{Selection: cfg.Selection.String(), Source: cfg.Source.Name()})
		if err != nil {
			return rec, abandon(ctx, cfg.Store, rec, err)
		}
		p.Outputs = []Output{out}
	}
	st, err := p.Run(ctx)
	if err == nil && st.Selected == 0 {
		err = emptyError(cfg.Source, cfg.Selection, st)
	}
	if err == nil && results != nil {
		err = results.Flush()
	}
	if err == nil && out != nil {
		err = out.Close()
	}
	drifts, aligns := an.Counts()
	rec.Beacons, rec.Unreadable, rec.DriftEvents, rec.Alignments = uint64(st.Selected), uint64(st.Unreadable), uint64(drifts), uint64(aligns)
	rec.Digest, rec.FirstTS, rec.LastTS = an.Digest(), st.FirstTS, st.LastTS
	rec.Params = paramsJSON(cfg.ParamsRecord, usedCorridors(cfg.Params.Corridors, an.SitesSeen()))
	if err != nil {
		if out != nil {
			out.Abort()
		}
		return rec, abandon(ctx, cfg.Store, rec, err)
	}
	rec.Status, rec.FinishedAt = StatusDone, time.Now().UTC()
	if cfg.Store != nil {
		// A run removed meanwhile (rtt replay rm from elsewhere) must not
		// come back as done with part of its results.
		if now, ok, err := cfg.Store.Run(storeCtx, rec.RunID); err != nil || !ok || now.Status != StatusRunning {
			if err == nil {
				err = fmt.Errorf("run %s was %s while it ran", rec.RunID, now.Status)
			}
			return rec, abandon(ctx, cfg.Store, rec, err)
		}
		if err := cfg.Store.PutRun(storeCtx, rec); err != nil {
			return rec, abandon(ctx, cfg.Store, rec, err)
		}
	}
	return rec, nil
}

// abandon drops what a run stored and records why it ended; it returns
// cause (with the cleanup's own failure, if any).
func abandon(ctx context.Context, s *Store, rec RunRecord, cause error) error {
	if s == nil {
		return cause
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	rec.Status, rec.FinishedAt, rec.Error = StatusFailed, time.Now().UTC(), cause.Error()
	if ctx.Err() != nil {
		rec.Status = StatusInterrupted
	}
	if err := s.DropResults(cctx, rec.RunID); err != nil {
		return errors.Join(cause, fmt.Errorf("removing the results of run %s (remove it with 'rtt replay rm %s'): %w", rec.RunID, rec.RunID, err))
	}
	if err := s.PutRun(cctx, rec); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// usedCorridors is the part of c that applies to sites.
func usedCorridors(c Corridors, sites []string) Corridors {
	out := Corridors{}
	for _, s := range sites {
		if cs := c.For(s); len(cs) > 0 {
			out[s] = cs
		}
	}
	return out
}

func paramsJSON(rec map[string]any, used Corridors) string {
	m := make(map[string]any, len(rec)+1)
	for k, v := range rec {
		m[k] = v
	}
	if used != nil {
		m["corridors_used"] = used
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
