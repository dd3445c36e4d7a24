// Package replay_test runs "rtt replay" against the four services running
// as processes around a private ClickHouse: research runs, exports, the two
// sources, run management, and the promise that live results never change.
package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtt-dev/rtt/internal/loadgen"
	"github.com/rtt-dev/rtt/internal/replay"
	"github.com/rtt-dev/rtt/pkg/batch"
	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/chx/chxtest"
	"github.com/rtt-dev/rtt/pkg/drift"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/test/stacktest"
)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m, "../..")) }

// start is the event time of the load generator's first beacon.
var start = time.Date(2026, 1, 19, 10, 0, 0, 0, time.UTC)

// handmade are beacons with what the generator never sends: fields the
// schema does not name at every level, a client-given id, empty optional
// fields, a ts with an offset, and two sites ("lab 1", "lab_1") that share
// a subject token.
var handmade = []string{
	`{"event_id":"lab-1-a","site":"lab 1","session":"x","event":"custom.event","ts":"2026-01-19T11:00:00.001+01:00","scope":"rack-7","region":"eu","labels":{},"topology":{},"flows":[{"path":["a","b"],"latency_ms":3,"corridor":"c1","note":"n"}],"structure":{"url":"u","title":"T","nav_count":1,"main_count":2,"form_count":3,"button_count":4,"dom_nodes":5,"depth":3}}`,
	`{"site":"lab 1","session":"x","event":"custom.event","ts":"2026-01-19T10:00:00.002Z","scope":"rack-7","structure":{"url":"u","title":"T","nav_count":1,"main_count":2,"form_count":3,"button_count":4,"dom_nodes":5}}`,
	`{"site":"lab_1","session":"y","event":"custom.event","ts":"2026-01-19T10:00:00.003Z","scope":"","structure":{"url":"u","title":"T","nav_count":9,"main_count":9,"form_count":9,"button_count":9,"dom_nodes":9},"tags":[1,"two",null]}`,
}

// step returns 12 beacons of site "lab 1", scope rack-9, whose dom_nodes
// step up by 15 %: a change below the live threshold (0.25), above 0.1.
func step() []string {
	var out []string
	for i := range 12 {
		nodes := 100
		if i >= 6 {
			nodes = 115
		}
		out = append(out, fmt.Sprintf(`{"site":"lab 1","session":"x","event":"cluster_heartbeat","ts":%q,"scope":"rack-9","structure":{"url":"u","title":"T","nav_count":1,"main_count":2,"form_count":3,"button_count":4,"dom_nodes":%d}}`,
			start.Add(time.Second+time.Duration(i)*time.Second).Format(time.RFC3339), nodes))
	}
	return out
}

type env struct {
	t     *testing.T
	st    *stacktest.Stack
	conn  driver.Conn
	db    string
	js    jetstream.JetStream
	chArg string
}

// replay runs "rtt replay sub" with the stack's connection flags, then args.
func (e *env) replay(ctx context.Context, sub string, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	full := []string{sub, "-clickhouse-addr", e.chArg, "-clickhouse-database", e.db}
	if sub == "export" || sub == "run" {
		full = append(full, "-nats-url", e.st.NATSURL)
	}
	err = replay.Main(ctx, append(full, args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

func (e *env) mustReplay(sub string, args ...string) string {
	e.t.Helper()
	out, errOut, err := e.replay(context.Background(), sub, args...)
	if err != nil {
		e.t.Fatalf("rtt replay %s %s: %v\nstderr: %s", sub, strings.Join(args, " "), err, errOut)
	}
	return out
}

func (e *env) count(q string) uint64 {
	e.t.Helper()
	var n uint64
	if err := e.conn.QueryRow(context.Background(), strings.ReplaceAll(q, "DB.", e.db+".")).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// digestOf reads the digest line of a run's output.
func digestOf(t *testing.T, out string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if d, ok := strings.CutPrefix(l, "digest "); ok {
			return d
		}
	}
	t.Fatalf("no digest in %q", out)
	return ""
}

type driftKey struct {
	Site, Scope, EventID string
	Magnitude            float64
}

func (e *env) driftEvents(q string) []driftKey {
	e.t.Helper()
	rows, err := e.conn.Query(context.Background(), strings.ReplaceAll(q, "DB.", e.db+"."))
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []driftKey
	for rows.Next() {
		var k driftKey
		if err := rows.Scan(&k.Site, &k.Scope, &k.EventID, &k.Magnitude); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b driftKey) int {
		return strings.Compare(a.Site+"\x00"+a.Scope+"\x00"+a.EventID, b.Site+"\x00"+b.Scope+"\x00"+b.EventID)
	})
	return out
}

func (e *env) runDrift(run string) []driftKey {
	return e.driftEvents("SELECT site, scope, event_id, magnitude FROM DB.replay_drift_events FINAL WHERE run_id = '" + run + "'")
}

// liveCounts are the raw row counts of every live table, and the state of
// the live streams and consumers: what a replay must not change.
func (e *env) liveCounts() string {
	var b strings.Builder
	for _, t := range []string{"beacons", "topology_snapshots", "profiles", "diagnostics", "drift_events", "alignments", "dead_letters"} {
		fmt.Fprintf(&b, "%s=%d ", t, e.count("SELECT count() FROM DB."+t))
	}
	ctx := context.Background()
	for _, s := range []string{natsx.StreamDerived, natsx.StreamDLQ, natsx.StreamControl} {
		str, err := e.js.Stream(ctx, s)
		if err != nil {
			e.t.Fatal(err)
		}
		info, err := str.Info(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%d/%d ", s, info.State.Msgs, info.State.LastSeq)
	}
	for _, c := range []struct{ stream, name string }{{natsx.StreamBeacons, "drift"}, {natsx.StreamBeacons, "corridor"}, {natsx.StreamBeacons, "sink-beacons"}, {natsx.StreamDerived, "sink-derived"}} {
		cons, err := e.js.Consumer(ctx, c.stream, c.name)
		if err != nil {
			e.t.Fatal(err)
		}
		ci, err := cons.Info(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%d/%d ", c.name, ci.Delivered.Stream, ci.AckFloor.Stream)
	}
	return b.String()
}

// settle waits until every live consumer has handled every message and
// ClickHouse holds every beacon and derived record.
func (e *env) settle() {
	e.t.Helper()
	ctx := context.Background()
	stacktest.WaitFor(e.t, 60*time.Second, func() error {
		for _, c := range []struct{ stream, name string }{{natsx.StreamBeacons, "drift"}, {natsx.StreamBeacons, "corridor"}, {natsx.StreamBeacons, "sink-beacons"}, {natsx.StreamDerived, "sink-derived"}} {
			cons, err := e.js.Consumer(ctx, c.stream, c.name)
			if err != nil {
				return err
			}
			ci, err := cons.Info(ctx)
			if err != nil {
				return err
			}
			if ci.NumPending > 0 || ci.NumAckPending > 0 {
				return fmt.Errorf("consumer %s: %d pending, %d unacknowledged", c.name, ci.NumPending, ci.NumAckPending)
			}
		}
		// Records, not messages: a message carries a batch of beacons or
		// the coalesced records of one.
		msgs := func(s string) uint64 {
			str, err := e.js.Stream(ctx, s)
			if err != nil {
				e.t.Fatal(err)
			}
			cons, err := str.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{HeadersOnly: true})
			if err != nil {
				e.t.Fatal(err)
			}
			n := uint64(0)
			for {
				b, err := cons.Fetch(1000, jetstream.FetchMaxWait(300*time.Millisecond))
				if err != nil {
					e.t.Fatal(err)
				}
				got := 0
				for m := range b.Messages() {
					got++
					// Batches and coalesced records both say how many
					// they carry.
					k := uint64(1)
					if items := m.Headers().Get(natsx.HeaderItems); items != "" {
						fmt.Sscan(items, &k)
					}
					n += k
				}
				if got == 0 {
					return n
				}
			}
		}
		if b, n := e.count("SELECT count() FROM DB.beacons FINAL"), msgs(natsx.StreamBeacons); b != n {
			return fmt.Errorf("ClickHouse holds %d beacons of %d", b, n)
		}
		if d, n := e.count("SELECT count() FROM DB.drift_events FINAL")+e.count("SELECT count() FROM DB.alignments FINAL"), msgs(natsx.StreamDerived); d != n {
			return fmt.Errorf("ClickHouse holds %d derived records of %d", d, n)
		}
		return nil
	})
}

func TestReplay(t *testing.T) {
	conn, db := chxtest.NewConn(t)
	st := stacktest.StartStack(t, db)
	nc, err := nats.Connect(st.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, conn: conn, db: db, js: js, chArg: chxtest.Addr(t)}
	ctx := context.Background()

	// The slice: 4,000 generated beacons of 6 sites, two of which change
	// structure halfway, and the handmade ones.
	// One request at a time, so that the stream holds the beacons in the
	// generator's order and the scenario is the same on every run.
	loadStart := time.Now()
	stats, err := loadgen.Run(ctx, loadgen.Config{
		URL: st.API, Sites: 6, Rate: 0, Count: 4000, Batch: 250, Concurrency: 1, HeartbeatEvery: 2 * time.Millisecond,
		ChangeSites: []string{"dc-01", "dc-04"}, ChangeAt: 20 * time.Millisecond, Seed: 7, Start: start,
	}, nil)
	if err != nil || stats.Accepted != 4000 {
		t.Fatalf("load: %v, %+v", err, stats)
	}
	postBatch(t, st.API, strings.Join(append(handmade, step()...), "\n"))
	arrivalSpan := time.Since(loadStart) // the slice's arrival times lie within it
	e.settle()
	before := e.liveCounts()
	liveDrift := e.driftEvents("SELECT site, scope, event_id, magnitude FROM DB.drift_events FINAL WHERE run_id = ''")
	if len(liveDrift) < 2 {
		t.Fatalf("the live pipeline found %d drift events, want at least the 2 injected changes", len(liveDrift))
	}
	total := e.count("SELECT count() FROM DB.beacons FINAL")
	t.Logf("slice: %d beacons, %d live drift events, %d live alignment records", total, len(liveDrift), e.count("SELECT count() FROM DB.alignments FINAL"))

	var liveDigest string
	t.Run("live parameters give the live drift events, twice the same digest", func(t *testing.T) {
		e.t = t
		out := e.mustReplay("run", "-run-id", "live-a")
		if !strings.Contains(out, fmt.Sprintf("run live-a (stored): %d beacons", total)) {
			t.Errorf("output %q", out)
		}
		liveDigest = digestOf(t, out)
		if got := e.runDrift("live-a"); !slices.Equal(got, liveDrift) {
			t.Errorf("replayed drift events\n%v\nlive\n%v", got, liveDrift)
		}
		// Corridor alignment too, record for record, running scores included.
		q := "SELECT count() FROM (SELECT source_event_id, flow_index, corridor, matched, on_corridor, score, running_score, total, on_total FROM DB.%s FINAL WHERE run_id = '%s')"
		live := e.count(fmt.Sprintf(q, "alignments", ""))
		replayed := e.count(fmt.Sprintf(q, "replay_alignments", "live-a"))
		both := e.count("SELECT count() FROM (SELECT source_event_id, flow_index, corridor, matched, on_corridor, score, running_score, total, on_total FROM DB.alignments FINAL WHERE run_id = '') " +
			"ANY INNER JOIN (SELECT source_event_id, flow_index, corridor, matched, on_corridor, score, running_score, total, on_total FROM DB.replay_alignments FINAL WHERE run_id = 'live-a') " +
			"USING (source_event_id, flow_index, corridor, matched, on_corridor, score, running_score, total, on_total)")
		if live == 0 || live != replayed || both != live {
			t.Errorf("alignments: %d live, %d replayed, %d identical", live, replayed, both)
		}
		out = e.mustReplay("run", "-run-id", "live-b")
		if d := digestOf(t, out); d != liveDigest {
			t.Errorf("second replay digest %s, first %s", d, liveDigest)
		}
		out = e.mustReplay("run", "-dry-run")
		if d := digestOf(t, out); d != liveDigest || !strings.Contains(out, "dry run, not stored") {
			t.Errorf("dry run: %q, digest of the stored runs %s", out, liveDigest)
		}
		if diff := e.mustReplay("diff", "live-a", "live-b"); !strings.Contains(diff, "0 only in live-a, 0 only in live-b") || strings.Contains(diff, "SITE") {
			t.Errorf("diff of two identical runs:\n%s", diff)
		}
		if diff := e.mustReplay("diff", "live-a", "live"); !strings.Contains(diff, fmt.Sprintf("%d in both (0 with other values), 0 only in live-a, 0 only in live", len(liveDrift))) {
			t.Errorf("diff against live:\n%s", diff)
		}
	})

	t.Run("another threshold stores another, correct set under its run id", func(t *testing.T) {
		e.t = t
		const threshold = 0.1
		out := e.mustReplay("run", "-run-id", "low", "-drift-threshold", fmt.Sprint(threshold), "-drift-confirm", "3")
		if digestOf(t, out) == liveDigest {
			t.Error("threshold 0.1 gives the live digest")
		}
		got := e.runDrift("low")
		t.Logf("threshold %g, confirm 3: %d drift events", threshold, len(got))
		want := oracle(t, e, drift.Params{Threshold: threshold, Confirm: 3, Alpha: drift.DefaultParams().Alpha})
		if !slices.Equal(got, want) {
			t.Errorf("stored\n%v\nthe detector over the stored beacons\n%v", got, want)
		}
		if !slices.ContainsFunc(got, func(k driftKey) bool { return k.Site == "lab 1" && k.Scope == "rack-9" }) {
			t.Errorf("threshold 0.1 found %v, want the 15 %% step of lab 1 among them (live: %v)", got, liveDrift)
		}
		for _, k := range got {
			if k.Magnitude < threshold {
				t.Errorf("event %v below the threshold", k)
			}
		}
		diff := e.mustReplay("diff", "live-a", "low")
		t.Logf("rtt replay diff live-a low:\n%s", diff)
		if !strings.Contains(diff, "SITE") || !strings.Contains(diff, fmt.Sprintf("live-a: %d drift events, low: %d", len(liveDrift), len(got))) {
			t.Errorf("diff:\n%s", diff)
		}
		list := e.mustReplay("list")
		t.Logf("rtt replay list:\n%s", list)
		for _, r := range []string{"live-a", "live-b", "low"} {
			if !strings.Contains(list, r+" ") {
				t.Errorf("list lacks %s:\n%s", r, list)
			}
		}
		if !strings.Contains(list, "threshold=0.1 confirm=3") {
			t.Errorf("list does not show the parameters:\n%s", list)
		}
		var shown struct {
			Status  string
			Command string
			Params  struct {
				Drift struct{ Threshold float64 }
			}
			Digest string
		}
		if err := json.Unmarshal([]byte(e.mustReplay("show", "low")), &shown); err != nil || shown.Status != "done" || shown.Params.Drift.Threshold != threshold ||
			!strings.Contains(shown.Command, "-drift-threshold 0.1 -drift-confirm 3") || shown.Digest != digestOf(t, out) {
			t.Errorf("show: %+v %v", shown, err)
		}
	})

	t.Run("NDJSON and Parquet round-trip every field of every selected beacon", func(t *testing.T) {
		e.t = t
		dir := t.TempDir()
		sel := []string{"-sites", "lab 1,dc-02", "-from", "2026-01-19T09:00:00Z", "-to", "2026-01-19T10:00:00.015Z"}
		_, progress, err := e.replay(ctx, "export", append(sel, "-out", filepath.Join(dir, "s.ndjson"), "-progress", "always")...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(progress, "beacons") || !strings.Contains(progress, "ETA") || !strings.Contains(progress, "exported ") {
			t.Errorf("progress and summary on stderr: %q", progress)
		}
		t.Logf("stderr of export -progress always: %q", progress)
		e.mustReplay("export", append(sel, "-out", filepath.Join(dir, "s.parquet"))...)
		want := e.payloads("site IN ('lab 1', 'dc-02') AND ts < toDateTime('2026-01-19 10:00:01')", func(b *beacon.Beacon) bool {
			return b.Time.Before(start.Add(15 * time.Millisecond))
		})
		t.Logf("exported %d beacons", len(want))
		if len(want) < 10 || !slices.ContainsFunc(want, func(l string) bool { return strings.Contains(l, `"lab-1-a"`) }) {
			t.Fatalf("selection of %d beacons too small for the test", len(want))
		}
		nd, err := os.ReadFile(filepath.Join(dir, "s.ndjson"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(nd), "\n"), "\n")
		f, err := os.Open(filepath.Join(dir, "s.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fi, _ := f.Stat()
		rows, err := replay.ReadParquet(f, fi.Size())
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != len(want) || len(rows) != len(want) {
			t.Fatalf("%d NDJSON lines, %d Parquet rows, want %d beacons", len(lines), len(rows), len(want))
		}
		for i := range want {
			if lines[i] != want[i] {
				t.Errorf("line %d\n got %s\nwant %s", i, lines[i], want[i])
			}
			if !replay.SameJSON(rows[i], []byte(want[i])) {
				t.Errorf("row %d\n got %s\nwant %s", i, rows[i], want[i])
			}
		}
	})

	t.Run("ClickHouse and the stream give the same slice", func(t *testing.T) {
		e.t = t
		dir := t.TempDir()
		sel := []string{"-sites", "dc-01,dc-03,lab_1", "-from", "2026-01-19T10:00:00.0105Z", "-to", "2026-01-19T10:00:00.035Z", "-events", "cluster_heartbeat,flow_observed,topology_snapshot,custom.event"}
		a := e.mustReplay("run", append(sel, "-dry-run", "-out", filepath.Join(dir, "stream.ndjson"))...)
		b := e.mustReplay("run", append(sel, "-dry-run", "-source", "clickhouse", "-out", filepath.Join(dir, "ch.ndjson"))...)
		if digestOf(t, a) != digestOf(t, b) || strings.Split(a, "\n")[0][strings.Index(a, ":"):] != strings.Split(b, "\n")[0][strings.Index(b, ":"):] {
			t.Errorf("stream:\n%s\nclickhouse:\n%s", a, b)
		}
		t.Logf("stream: %s", strings.Split(a, "\n")[0])
		x, _ := os.ReadFile(filepath.Join(dir, "stream.ndjson"))
		y, _ := os.ReadFile(filepath.Join(dir, "ch.ndjson"))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("exports differ: %d and %d bytes", len(x), len(y))
		}
	})

	t.Run("empty and invalid selections", func(t *testing.T) {
		e.t = t
		for _, tc := range []struct {
			sub  string
			args []string
			want string
			is   error
		}{
			{"run", []string{"-run-id", "empty", "-sites", "nowhere"}, "-sites nowhere", replay.ErrEmptySelection},
			{"export", []string{"-sites", "lab 1", "-events", "topology_snapshot"}, "no beacon in stream matches -sites 'lab 1' -events topology_snapshot", replay.ErrEmptySelection},
			{"export", []string{"-source", "clickhouse", "-from", "2030-01-01"}, "no beacon in clickhouse matches -from 2030-01-01T00:00:00Z", replay.ErrEmptySelection},
			{"export", []string{"-from", "2026-01-19T11:00:00Z", "-to", "2026-01-19T10:00:00Z"}, "-to: ", replay.ErrInvalidSelection},
			{"export", []string{"-from", "soon"}, "-from", nil},
			{"export", []string{"-source", "kafka"}, "-source", nil},
			{"export", []string{"-format", "csv"}, "-format", nil},
			{"run", []string{"-drift-threshold", "-1"}, "-drift-threshold", nil},
			{"run", []string{"-corridor-budget", "nosuch=5"}, "-corridor-budget: no site declares a corridor named \"nosuch\"", nil},
			{"run", []string{"-run-id", "low"}, "run low is done", replay.ErrRunExists},
			{"run", []string{"-run-id", "no/slash"}, "-run-id", nil},
		} {
			_, _, err := e.replay(ctx, tc.sub, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Errorf("%s %v: %v, want an error with %q", tc.sub, tc.args, err, tc.want)
			}
		}
		if n := e.count("SELECT count() FROM DB.replay_runs FINAL WHERE run_id = 'empty' AND status = 'failed'"); n != 1 {
			t.Errorf("the empty run is not recorded as failed")
		}
		if list := e.mustReplay("list"); strings.Contains(list, "empty") {
			t.Errorf("list shows the empty run:\n%s", list)
		}
	})

	t.Run("Ctrl-C leaves no half-visible run", func(t *testing.T) {
		e.t = t
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			// At this pace the replay takes a minute; it is cancelled as
			// soon as some of its results are stored.
			pace := max(arrivalSpan.Seconds()/60, 1e-4)
			_, _, err := e.replay(runCtx, "run", "-run-id", "cut", "-pace", fmt.Sprint(pace))
			done <- err
		}()
		stacktest.WaitFor(t, 30*time.Second, func() error {
			if n := e.count("SELECT count() FROM DB.replay_alignments WHERE run_id = 'cut'"); n == 0 {
				return errors.New("no result of the paced run stored yet")
			}
			return nil
		})
		if list := e.mustReplay("list"); strings.Contains(list, "cut") {
			t.Errorf("list shows the running run:\n%s", list)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("interrupted run: %v", err)
		}
		if n := e.count("SELECT count() FROM DB.replay_alignments WHERE run_id = 'cut'") + e.count("SELECT count() FROM DB.replay_drift_events WHERE run_id = 'cut'"); n != 0 {
			t.Errorf("%d rows of the interrupted run left", n)
		}
		if list := e.mustReplay("list", "-all"); !strings.Contains(list, "cut ") || !strings.Contains(list, "interrupted") {
			t.Errorf("list -all:\n%s", list)
		}
	})

	t.Run("rm", func(t *testing.T) {
		e.t = t
		if out := e.mustReplay("rm", "live-b", "cut"); out != "removed live-b\nremoved cut\n" {
			t.Errorf("rm: %q", out)
		}
		if n := e.count("SELECT count() FROM DB.replay_drift_events WHERE run_id = 'live-b'") + e.count("SELECT count() FROM DB.replay_alignments WHERE run_id = 'live-b'"); n != 0 {
			t.Errorf("%d rows of the removed run left", n)
		}
		if n := e.count("SELECT count() FROM DB.replay_alignments WHERE run_id = 'live-a'"); n == 0 {
			t.Error("rm removed the results of another run")
		}
		if list := e.mustReplay("list"); strings.Contains(list, "live-b") || !strings.Contains(list, "live-a") {
			t.Errorf("list after rm:\n%s", list)
		}
		if _, _, err := e.replay(ctx, "rm", "live-b"); !errors.Is(err, replay.ErrNoRun) {
			t.Errorf("rm of a removed run: %v", err)
		}
		if _, _, err := e.replay(ctx, "diff", "live-a", "live-b"); !errors.Is(err, replay.ErrNoRun) {
			t.Errorf("diff with a removed run: %v", err)
		}
		// The id is free again.
		if d := digestOf(t, e.mustReplay("run", "-run-id", "live-b")); d != liveDigest {
			t.Errorf("digest of the run under a reused id %s, want %s", d, liveDigest)
		}
	})

	t.Run("past the stream's retention ClickHouse still has the slice", func(t *testing.T) {
		e.t = t
		str, err := js.Stream(ctx, natsx.StreamBeacons)
		if err != nil {
			t.Fatal(err)
		}
		if err := str.Purge(ctx, jetstream.WithPurgeSequence(5)); err != nil { // the first 4 batches of 250, 1,000 beacons, expire
			t.Fatal(err)
		}
		_, _, err = e.replay(ctx, "export", "-arrived-from", "-1h", "-out", filepath.Join(t.TempDir(), "x.ndjson"))
		if !errors.Is(err, replay.ErrBeyondRetention) || !strings.Contains(err.Error(), "-source clickhouse") {
			t.Errorf("an arrival selection past the retention: %v", err)
		}
		out, errOut, err := e.replay(ctx, "run", "-dry-run")
		if err != nil || digestOf(t, out) == liveDigest || !strings.Contains(errOut, "use -source clickhouse") {
			t.Errorf("the truncated stream: %v %q %q", err, out, errOut)
		}
		out = e.mustReplay("run", "-run-id", "from-ch", "-source", "clickhouse")
		if d := digestOf(t, out); d != liveDigest {
			t.Errorf("the whole slice from ClickHouse: digest %s, want %s", d, liveDigest)
		}
		if got := e.runDrift("from-ch"); !slices.Equal(got, liveDrift) {
			t.Errorf("drift events from ClickHouse\n%v\nlive\n%v", got, liveDrift)
		}
	})

	if after := e.liveCounts(); after != before {
		t.Errorf("the live tables or streams changed:\nbefore %s\nafter  %s", before, after)
	}
}

// payloads returns the export lines the beacons matching the SQL condition
// and keep must give, in stream order, from what ClickHouse stored.
func (e *env) payloads(where string, keep func(*beacon.Beacon) bool) []string {
	e.t.Helper()
	rows, err := e.conn.Query(context.Background(), "SELECT event_id, payload FROM "+e.db+".beacons FINAL WHERE "+where+" ORDER BY stream_seq, batch_index")
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, payload string
		if err := rows.Scan(&id, &payload); err != nil {
			e.t.Fatal(err)
		}
		b, err := beacon.FromStored([]byte(payload))
		if err != nil {
			e.t.Fatal(err)
		}
		if !keep(b) {
			continue
		}
		// The payload with its event id: a client-given one is in it,
		// a derived one comes first.
		line := payload
		if !strings.Contains(payload, `"event_id":`) {
			line = `{"event_id":"` + id + `",` + payload[1:]
		}
		out = append(out, line)
	}
	return out
}

// oracle runs the detector over every stored beacon in stream order, as
// the replay must have.
func oracle(t *testing.T, e *env, p drift.Params) []driftKey {
	rows, err := e.conn.Query(context.Background(), "SELECT event_id, stream_seq, batch_index, payload FROM "+e.db+".beacons FINAL ORDER BY stream_seq, batch_index")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	tr := drift.NewTracker(p)
	var out []driftKey
	for rows.Next() {
		var id, payload string
		var seq uint64
		var index uint16
		if err := rows.Scan(&id, &seq, &index, &payload); err != nil {
			t.Fatal(err)
		}
		b, err := beacon.FromStored([]byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		s := b.Structure
		_, ev, _ := tr.Step(b.Site+"\x00"+b.KeyScope(), drift.Input{EventID: id, TS: b.Time, Seq: batch.Pos(seq, int(index)), Features: drift.Features{
			Counts: [drift.NumCounts]float64{float64(s.NavCount), float64(s.MainCount), float64(s.FormCount), float64(s.ButtonCount), float64(s.DomNodes)},
			Graph:  b.Topology,
		}})
		if ev != nil {
			out = append(out, driftKey{b.Site, b.KeyScope(), ev.EventID, ev.Magnitude})
		}
	}
	slices.SortFunc(out, func(a, b driftKey) int {
		return strings.Compare(a.Site+"\x00"+a.Scope+"\x00"+a.EventID, b.Site+"\x00"+b.Scope+"\x00"+b.EventID)
	})
	return out
}
