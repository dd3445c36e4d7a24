package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/rtt-dev/rtt/pkg/chx"
	"github.com/rtt-dev/rtt/pkg/derived"
	"github.com/rtt-dev/rtt/schemas"
)

// Run statuses. Only StatusDone runs are complete; the others have no
// results (StatusRunning: being written, or left by a process that was
// killed; rm removes them).
const (
	StatusRunning     = "running"
	StatusDone        = "done"
	StatusInterrupted = "interrupted"
	StatusFailed      = "failed"
	StatusRemoved     = "removed"
)

// Tables of research runs.
const (
	TableRuns        = "replay_runs"
	TableDriftEvents = "replay_drift_events"
	TableAlignments  = "replay_alignments"
)

// ErrNoRun is wrapped by the error for a run id that names no run.
var ErrNoRun = errors.New("no such run")

// ErrRunExists is wrapped by the error of a run whose id is taken.
var ErrRunExists = errors.New("run id already taken")

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidateRunID reports whether id can name a run: 1 to 64 letters, digits,
// dots, dashes and underscores, starting with a letter or digit.
func ValidateRunID(id string) error {
	if !runIDPattern.MatchString(id) {
		return fmt.Errorf("-run-id: %q must be 1 to 64 letters, digits, '.', '-' or '_', starting with a letter or digit", id)
	}
	if id == LiveRun {
		return fmt.Errorf("-run-id: %q names the live pipeline", id)
	}
	return nil
}

// LiveRun is the name diff accepts for the live pipeline's drift events.
const LiveRun = "live"

// Store keeps research runs and their results in ClickHouse database DB.
// It is safe for concurrent use.
type Store struct {
	Conn driver.Conn
	DB   string

	mu      sync.Mutex
	version uint64
}

// Migrate applies rtt's migrations (the sink does so too on start), so that
// the replay tables exist.
func (s *Store) Migrate(ctx context.Context) error {
	_, err := chx.Migrate(ctx, s.Conn, schemas.ClickHouse(), s.DB)
	return err
}

func (s *Store) table(name string) string { return ident(s.DB) + "." + name }

// RunRecord is one state of a run, a row of replay_runs.
type RunRecord struct {
	RunID       string    `json:"run_id"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	FinishedAt  time.Time `json:"finished_at"`
	Source      string    `json:"source"`
	Selection   string    `json:"selection"` // JSON
	Params      string    `json:"params"`    // JSON
	Command     string    `json:"command"`   // the rtt replay run command that repeats the run
	Beacons     uint64    `json:"beacons"`
	Unreadable  uint64    `json:"unreadable"`
	DriftEvents uint64    `json:"drift_events"`
	Alignments  uint64    `json:"alignments"`
	Digest      string    `json:"digest"`
	FirstTS     time.Time `json:"first_ts"` // event time range of the beacons
	LastTS      time.Time `json:"last_ts"`
	Error       string    `json:"error,omitempty"`
}

var runColumns = "run_id, version, status, created_at, finished_at, source, selection, params, command, beacons, unreadable, drift_events, alignments, digest, first_ts, last_ts, error"

// nextVersion returns a version above every one this Store handed out, from
// the clock so that other processes' later writes win too.
func (s *Store) nextVersion() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := uint64(time.Now().UnixNano())
	if v <= s.version {
		v = s.version + 1
	}
	s.version = v
	return v
}

// PutRun records r as the run's latest state.
func (s *Store) PutRun(ctx context.Context, r RunRecord) error {
	b, err := s.Conn.PrepareBatch(ctx, "INSERT INTO "+s.table(TableRuns)+" ("+runColumns+")")
	if err != nil {
		return fmt.Errorf("record run %s: %w", r.RunID, err)
	}
	utc := func(t time.Time) time.Time {
		if t.IsZero() {
			return time.Unix(0, 0).UTC()
		}
		return t.UTC().Truncate(time.Second)
	}
	if err := b.Append(r.RunID, s.nextVersion(), r.Status, utc(r.CreatedAt), utc(r.FinishedAt), r.Source, r.Selection, r.Params, r.Command,
		r.Beacons, r.Unreadable, r.DriftEvents, r.Alignments, r.Digest, utc(r.FirstTS), utc(r.LastTS), r.Error); err != nil {
		b.Abort()
		return fmt.Errorf("record run %s: %w", r.RunID, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("record run %s: %w", r.RunID, err)
	}
	return nil
}

// Runs returns the latest state of every run, newest first; only done runs
// unless all.
func (s *Store) Runs(ctx context.Context, all bool) ([]RunRecord, error) {
	where := "status = 'done'"
	if all {
		where = "1"
	}
	return s.queryRuns(ctx, where+" ORDER BY created_at DESC, run_id")
}

// Run returns the latest state of run id; ok is false when there is none.
func (s *Store) Run(ctx context.Context, id string) (r RunRecord, ok bool, err error) {
	runs, err := s.queryRuns(ctx, "run_id = "+quote(id))
	if err != nil || len(runs) == 0 {
		return RunRecord{}, false, err
	}
	return runs[0], true, nil
}

func (s *Store) queryRuns(ctx context.Context, where string) ([]RunRecord, error) {
	q := "SELECT run_id, status, created_at, finished_at, source, selection, params, command, beacons, unreadable, drift_events, alignments, digest, first_ts, last_ts, error FROM " +
		s.table(TableRuns) + " FINAL WHERE " + where
	rows, err := s.Conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	defer rows.Close()
	var out []RunRecord
	for rows.Next() {
		var r RunRecord
		if err := rows.Scan(&r.RunID, &r.Status, &r.CreatedAt, &r.FinishedAt, &r.Source, &r.Selection, &r.Params, &r.Command,
			&r.Beacons, &r.Unreadable, &r.DriftEvents, &r.Alignments, &r.Digest, &r.FirstTS, &r.LastTS, &r.Error); err != nil {
			return nil, fmt.Errorf("read runs: %w", err)
		}
		for _, t := range []*time.Time{&r.CreatedAt, &r.FinishedAt, &r.FirstTS, &r.LastTS} {
			if t.Unix() == 0 {
				*t = time.Time{}
			} else {
				*t = t.UTC()
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	return out, nil
}

// DropResults removes every result row of run id (its partitions of the
// result tables). Dropping a run that has none is no error.
func (s *Store) DropResults(ctx context.Context, id string) error {
	if !runIDPattern.MatchString(id) {
		return fmt.Errorf("drop results: bad run id %q", id)
	}
	for _, t := range []string{TableDriftEvents, TableAlignments} {
		if err := s.Conn.Exec(ctx, "ALTER TABLE "+s.table(t)+" DROP PARTITION "+quote(id)); err != nil {
			return fmt.Errorf("drop results of run %s from %s: %w", id, t, err)
		}
	}
	return nil
}

// Remove drops run id's results and records it as removed, so that it is
// no longer listed. It fails with ErrNoRun when the id names no run.
func (s *Store) Remove(ctx context.Context, id string) error {
	r, ok, err := s.Run(ctx, id)
	if err != nil {
		return err
	}
	if !ok || r.Status == StatusRemoved {
		return fmt.Errorf("%w: %s", ErrNoRun, id)
	}
	if err := s.DropResults(ctx, id); err != nil {
		return err
	}
	r.Status, r.FinishedAt = StatusRemoved, time.Now()
	return s.PutRun(ctx, r)
}

// resultBatch is how many records of one table are written per INSERT at
// most; resultAge is the longest a record waits (a slow, paced run still
// writes as it goes).
const (
	resultBatch = 20000
	resultAge   = time.Second
)

// resultWriter buffers a run's records and inserts them in batches. It
// implements Results.
type resultWriter struct {
	ctx       context.Context
	s         *Store
	drifts    [][]any
	aligns    [][]any
	lastFlush time.Time
}

func (s *Store) results(ctx context.Context) *resultWriter {
	return &resultWriter{ctx: ctx, s: s, lastFlush: time.Now()}
}

// due flushes when a table's batch is full or the oldest record waited
// resultAge.
func (w *resultWriter) due() error {
	if len(w.drifts) >= resultBatch || len(w.aligns) >= resultBatch || time.Since(w.lastFlush) >= resultAge {
		return w.Flush()
	}
	return nil
}

var (
	driftColumns = "drift_id, run_id, site, scope, cluster, ts, ts_ms, detected_at, event_id, first_event_id, first_ts, magnitude, " +
		"d_nav_count, d_main_count, d_form_count, d_button_count, d_dom_nodes, d_topology, baseline, observed, streak, " +
		"nodes_added, nodes_removed, edges_added, edges_removed"
	alignmentColumns = "record_id, run_id, site, corridor, ts, ts_ms, source, source_event_id, flow_index, path, matched, on_corridor, " +
		"path_match, deviating_hops, deviations, latency_ms, budget_ms, latency_ratio, within_budget, score, running_score, total, on_total"
)

// split cuts t into whole seconds and milliseconds, as the sink stores
// times.
func split(t time.Time) (time.Time, uint16) {
	t = t.UTC()
	return t.Truncate(time.Second), uint16(t.Nanosecond() / int(time.Millisecond))
}

func b8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func (w *resultWriter) Drift(d derived.Drift) error {
	ts, ms := split(d.TS)
	first, _ := split(d.FirstTS)
	detected, _ := split(d.DetectedAt)
	v := d.Vector
	w.drifts = append(w.drifts, []any{
		d.DriftID, d.RunID, d.Site, d.Scope, d.Cluster, ts, ms, detected, d.EventID, d.FirstEventID, first, d.Magnitude,
		v.Nav, v.Main, v.Form, v.Button, v.DomNodes, v.Topology, d.Baseline[:], d.Observed[:], uint32(d.Streak),
		uint32(d.NodesAdded), uint32(d.NodesRemoved), uint32(d.EdgesAdded), uint32(d.EdgesRemoved),
	})
	return w.due()
}

func (w *resultWriter) Alignment(a derived.Alignment) error {
	ts, ms := split(a.TS)
	dev, _ := json.Marshal(a.DeviatingHops)
	path := a.Path
	if path == nil {
		path = []string{}
	}
	w.aligns = append(w.aligns, []any{
		a.RecordID, a.RunID, a.Site, a.Corridor, ts, ms, a.Source, a.SourceEventID, uint32(a.FlowIndex), path,
		b8(a.Matched), b8(a.OnCorridor), b8(a.PathMatch), uint32(len(a.DeviatingHops)), string(dev),
		a.LatencyMS, a.BudgetMS, a.LatencyRatio, b8(a.WithinBudget), a.Score, a.RunningScore, a.Total, a.OnTotal,
	})
	return w.due()
}

// Flush inserts what is buffered.
func (w *resultWriter) Flush() error {
	w.lastFlush = time.Now()
	if err := w.flushDrift(); err != nil {
		return err
	}
	return w.flushAlign()
}

func (w *resultWriter) flushDrift() error {
	err := w.s.insert(w.ctx, TableDriftEvents, driftColumns, w.drifts)
	w.drifts = w.drifts[:0]
	return err
}

func (w *resultWriter) flushAlign() error {
	err := w.s.insert(w.ctx, TableAlignments, alignmentColumns, w.aligns)
	w.aligns = w.aligns[:0]
	return err
}

func (s *Store) insert(ctx context.Context, table, columns string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	b, err := s.Conn.PrepareBatch(ctx, "INSERT INTO "+s.table(table)+" ("+columns+")")
	if err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	for _, r := range rows {
		if err := b.Append(r...); err != nil {
			b.Abort()
			return fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// DriftEvent is a drift event as diff compares them.
type DriftEvent struct {
	Site, Scope, EventID string
	TS                   time.Time
	Magnitude            float64
	Streak               uint32
	FirstEventID         string
}

// DriftEvents returns the drift events of run id (LiveRun: of the live
// pipeline, restricted to sites, when given, and to event times in
// [from, to]), ordered by site, scope, time and event id.
func (s *Store) DriftEvents(ctx context.Context, id string, sites []string, from, to time.Time) ([]DriftEvent, error) {
	var q string
	if id == LiveRun {
		conds := []string{"run_id = ''"}
		if len(sites) > 0 {
			conds = append(conds, "site IN ("+quoteList(sites)+")")
		}
		if !from.IsZero() {
			conds = append(conds, fmt.Sprintf("ts >= toDateTime(%d)", from.Unix()))
		}
		if !to.IsZero() {
			conds = append(conds, fmt.Sprintf("ts <= toDateTime(%d)", to.Unix()))
		}
		q = "SELECT site, scope, event_id, ts, ts_ms, magnitude, streak, first_event_id FROM " + s.table("drift_events") +
			" FINAL WHERE " + strings.Join(conds, " AND ")
	} else {
		q = "SELECT site, scope, event_id, ts, ts_ms, magnitude, streak, first_event_id FROM " + s.table(TableDriftEvents) +
			" FINAL WHERE run_id = " + quote(id)
	}
	rows, err := s.Conn.Query(ctx, q+" ORDER BY site, scope, ts, ts_ms, event_id")
	if err != nil {
		return nil, fmt.Errorf("read drift events of %s: %w", id, err)
	}
	defer rows.Close()
	var out []DriftEvent
	for rows.Next() {
		var (
			e  DriftEvent
			ms uint16
		)
		if err := rows.Scan(&e.Site, &e.Scope, &e.EventID, &e.TS, &ms, &e.Magnitude, &e.Streak, &e.FirstEventID); err != nil {
			return nil, fmt.Errorf("read drift events of %s: %w", id, err)
		}
		e.TS = e.TS.UTC().Add(time.Duration(ms) * time.Millisecond)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read drift events of %s: %w", id, err)
	}
	return out, nil
}
