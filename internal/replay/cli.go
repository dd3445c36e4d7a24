package replay

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtt-dev/rtt/pkg/chx"
	"github.com/rtt-dev/rtt/pkg/corridor"
	"github.com/rtt-dev/rtt/pkg/drift"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/svc"
)

// subcommands of rtt replay, in the order usage lists them.
var subcommands = []struct{ name, args, summary string }{
	{"export", "[flags]", "write the selected beacons to NDJSON or Parquet"},
	{"run", "[flags]", "rerun drift and corridor analysis over the selected beacons and store the results as a research run"},
	{"list", "[-all]", "list the research runs"},
	{"show", "RUN", "show a run's selection, parameters, counts and digest as JSON"},
	{"rm", "RUN...", "remove research runs and their results"},
	{"diff", "RUN_A RUN_B", "show where two runs' drift events differ ('live' names the live pipeline)"},
}

// Main runs "rtt replay" with args (after "replay"): export, run, list,
// show, rm or diff. Flags can also be set as RTT_<FLAG> environment
// variables, like the services' (RTT_NATS_URL, RTT_CLICKHOUSE_ADDR,
// RTT_DRIFT_THRESHOLD...). Results go to stdout, progress and notices to
// stderr. It returns flag.ErrHelp after -h, and an error naming the flag
// for bad flags, an invalid or empty selection, or a failed run. When ctx
// ends (Ctrl-C) a run removes what it stored and returns ctx's error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errors.New("missing subcommand")
	}
	name, rest := args[0], args[1:]
	switch name {
	case "export":
		return runExport(ctx, rest, stdout, stderr)
	case "run":
		return runResearch(ctx, rest, stdout, stderr)
	case "list":
		return runList(ctx, rest, stdout, stderr)
	case "show":
		return runShow(ctx, rest, stdout, stderr)
	case "rm":
		return runRemove(ctx, rest, stdout, stderr)
	case "diff":
		return runDiff(ctx, rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return flag.ErrHelp
	}
	usage(stderr)
	return fmt.Errorf("unknown subcommand %q", name)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: rtt replay <subcommand> [flags]\n\nReplays a slice of the beacon stream (or of ClickHouse, for older data) for research.\n\nSubcommands:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range subcommands {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun 'rtt replay <subcommand> -h' for its flags; every flag is also RTT_<FLAG>. See docs/replay.md.\n")
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rtt replay "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, c := range subcommands {
		if c.name == name {
			fs.Usage = func() {
				fmt.Fprintf(stderr, "Usage: rtt replay %s %s\n\n%s.\n\nFlags (each also RTT_<FLAG>, e.g. -nats-url is RTT_NATS_URL):\n", c.name, c.args, strings.ToUpper(c.summary[:1])+c.summary[1:])
				fs.PrintDefaults()
			}
		}
	}
	return fs
}

// parse parses args into fs (flags and RTT_* variables) and checks the
// number of positional arguments.
func parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) error {
	if err := svc.Parse(fs, args); err != nil {
		return err
	}
	if n := fs.NArg(); n < minArgs || (maxArgs >= 0 && n > maxArgs) {
		fs.Usage()
		if n < minArgs {
			return fmt.Errorf("%s: missing argument", fs.Name())
		}
		return fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args()[maxArgs:])
	}
	return nil
}

// conns are the connection flags.
type conns struct {
	NATSURL string
	CH      chx.Config
}

func (c *conns) registerNATS(fs *flag.FlagSet) {
	fs.StringVar(&c.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS URL (the stream source and the profiles bucket)")
}

func (c *conns) registerClickHouse(fs *flag.FlagSet) {
	fs.StringVar(&c.CH.Addr, "clickhouse-addr", "127.0.0.1:9000", "ClickHouse native protocol address")
	fs.StringVar(&c.CH.Database, "clickhouse-database", "rtt", "ClickHouse database of rtt")
	fs.StringVar(&c.CH.Username, "clickhouse-user", "default", "ClickHouse user")
	fs.StringVar(&c.CH.Password, "clickhouse-password", "", "ClickHouse password")
}

func (c *conns) nats(ctx context.Context) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(c.NATSURL, nats.Name("rtt replay"), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("-nats-url: connect to %s: %w", c.NATSURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("-nats-url: %w", err)
	}
	return nc, js, nil
}

func (c *conns) clickhouse(ctx context.Context) (driver.Conn, error) {
	cfg := c.CH
	db := cfg.Database
	cfg.Database = "" // the database may not exist yet: Migrate creates it
	conn, err := chx.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("-clickhouse-addr: %w", err)
	}
	if !validIdent(db) {
		conn.Close()
		return nil, fmt.Errorf("-clickhouse-database: %q is not a plain identifier", db)
	}
	return conn, nil
}

func validIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// store opens the ClickHouse store of runs, with the replay tables in
// place.
func (c *conns) store(ctx context.Context) (*Store, func(), error) {
	conn, err := c.clickhouse(ctx)
	if err != nil {
		return nil, nil, err
	}
	s := &Store{Conn: conn, DB: c.CH.Database}
	if err := s.Migrate(ctx); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return s, func() { conn.Close() }, nil
}

// sliceFlags are the flags of export and run: what to read and how.
type sliceFlags struct {
	conns
	Selection Selection
	Source    string
	Pace      float64
	Progress  string
	Out       string
	Format    string
}

func (f *sliceFlags) register(fs *flag.FlagSet, outDefault string) {
	f.Selection.Register(fs, time.Now())
	fs.StringVar(&f.Source, "source", "stream", "where the beacons come from: stream (RTT_BEACONS, the default) or clickhouse (rtt.beacons, for data past the stream's retention)")
	fs.Float64Var(&f.Pace, "pace", 0, "replay at the recorded arrival pace times this factor (2: twice as fast); 0: as fast as possible")
	fs.StringVar(&f.Progress, "progress", "auto", "progress line on stderr: auto (when stderr is a terminal), always or never")
	fs.StringVar(&f.Out, "out", outDefault, "file to export the selected beacons to; - is stdout")
	fs.StringVar(&f.Format, "format", "", "export format: ndjson or parquet (default: by the -out extension, .parquet or else ndjson)")
	f.registerNATS(fs)
	f.registerClickHouse(fs)
}

func (f *sliceFlags) validate() error {
	if err := f.Selection.Validate(); err != nil {
		return err
	}
	switch {
	case f.Source != "stream" && f.Source != "clickhouse":
		return fmt.Errorf("-source: unknown source %q (want stream or clickhouse)", f.Source)
	case !(f.Pace >= 0) || f.Pace > 1e6:
		return fmt.Errorf("-pace: must be 0 (as fast as possible) or a factor above 0, got %v", f.Pace)
	case f.Progress != "auto" && f.Progress != "always" && f.Progress != "never":
		return fmt.Errorf("-progress: want auto, always or never, got %q", f.Progress)
	}
	var err error
	f.Format, err = FormatOf(f.Format, f.Out)
	return err
}

func (f *sliceFlags) progress(stderr io.Writer) io.Writer {
	if f.Progress == "always" || f.Progress == "auto" && IsTerminal(stderr) {
		return stderr
	}
	return nil
}

// opened holds the connections a command opened.
type opened struct {
	js      jetstream.JetStream
	ch      driver.Conn
	closers []func()
}

func (o *opened) close() {
	for i := len(o.closers) - 1; i >= 0; i-- {
		o.closers[i]()
	}
}

// source opens the connection the source needs and returns it.
func (f *sliceFlags) source(ctx context.Context, o *opened, stderr io.Writer) (Source, error) {
	if f.Source == "clickhouse" {
		conn, err := f.clickhouse(ctx)
		if err != nil {
			return nil, err
		}
		o.ch = conn
		o.closers = append(o.closers, func() { conn.Close() })
		return &ClickHouseSource{Conn: conn, DB: f.CH.Database}, nil
	}
	nc, js, err := f.nats(ctx)
	if err != nil {
		return nil, err
	}
	o.js = js
	o.closers = append(o.closers, nc.Close)
	return &StreamSource{JS: js, Warn: stderr}, nil
}

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f sliceFlags
	fs := newFlagSet("export", stderr)
	f.register(fs, "-")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	var o opened
	defer o.close()
	src, err := f.source(ctx, &o, stderr)
	if err != nil {
		return err
	}
	st, err := Export(ctx, ExportConfig{Source: src, Selection: f.Selection, Out: f.Out, Format: f.Format, Stdout: stdout, Pace: f.Pace, Progress: f.progress(stderr)})
	if err != nil {
		if ctx.Err() != nil && f.Out != "-" {
			return fmt.Errorf("export interrupted, no file written: %w", err)
		}
		return err
	}
	where := f.Out
	if where == "-" {
		where = "stdout"
	}
	fmt.Fprintf(stderr, "exported %d beacons (%s) from %s to %s in %s\n", st.Selected, f.Format, src.Name(), where, st.Elapsed.Round(time.Millisecond))
	return nil
}

// researchFlags are run's flags beyond the slice.
type researchFlags struct {
	sliceFlags
	RunID         string
	Drift         drift.Params
	CorridorAlpha float64
	CorridorsFile string
	Profiles      string
	Budgets       map[string]float64
	DryRun        bool
}

func runResearch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := researchFlags{Budgets: map[string]float64{}}
	fs := newFlagSet("run", stderr)
	f.register(fs, "")
	d := drift.DefaultParams()
	fs.StringVar(&f.RunID, "run-id", "", "id of the run (letters, digits, . _ -); default r-<time>-<random>")
	fs.Float64Var(&f.Drift.Threshold, "drift-threshold", d.Threshold, "drift magnitude at or above which a beacon counts as drifted")
	fs.IntVar(&f.Drift.Confirm, "drift-confirm", d.Confirm, "consecutive drifted beacons before a drift event")
	fs.Float64Var(&f.Drift.Alpha, "drift-alpha", d.Alpha, "EWMA weight of a normal beacon in the baseline (about 2/(N+1) for a baseline of N beacons)")
	fs.DurationVar(&f.Drift.Cooldown, "drift-cooldown", d.Cooldown, "least event time between two drift events of one site and scope")
	fs.Float64Var(&f.CorridorAlpha, "corridor-alpha", corridor.DefaultAlpha, "EWMA weight of each flow in a corridor's running score")
	fs.StringVar(&f.CorridorsFile, "corridors", "", "JSON file of corridors by site ({\"site\": [corridors], \"*\": [...]}) used instead of the sites' profiles")
	fs.StringVar(&f.Profiles, "profiles", "", "where the sites' corridors come from without -corridors: kv (the live profiles bucket) or clickhouse (rtt.profiles); default: kv for -source stream, clickhouse for -source clickhouse")
	fs.Func("corridor-budget", "override a corridor's latency budget, NAME=MS, for every site declaring it (repeatable)", func(v string) error {
		name, ms, err := ParseBudget(v)
		if err != nil {
			return err
		}
		f.Budgets[name] = ms
		return nil
	})
	fs.BoolVar(&f.DryRun, "dry-run", false, "analyse and print the counts and digest without storing a run")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if f.Out == "" && f.Format != "" {
		return errors.New("-format: only with -out")
	}
	if err := f.validate(); err != nil {
		return err
	}
	if f.RunID != "" {
		if err := ValidateRunID(f.RunID); err != nil {
			return err
		}
	}
	if f.Profiles == "" {
		f.Profiles = "kv"
		if f.Source == "clickhouse" {
			f.Profiles = "clickhouse"
		}
	}
	if f.Profiles != "kv" && f.Profiles != "clickhouse" {
		return fmt.Errorf("-profiles: want kv or clickhouse, got %q", f.Profiles)
	}
	params := Params{Drift: f.Drift, CorridorAlpha: f.CorridorAlpha}
	if err := params.Validate(); err != nil {
		return err
	}

	var o opened
	defer o.close()
	src, err := f.source(ctx, &o, stderr)
	if err != nil {
		return err
	}
	var store *Store
	if !f.DryRun {
		s, closeStore, err := f.store(ctx)
		if err != nil {
			return err
		}
		o.closers = append(o.closers, closeStore)
		store = s
		if o.ch == nil {
			o.ch = s.Conn
		}
	}
	if o.ch == nil && f.Profiles == "clickhouse" && f.CorridorsFile == "" {
		conn, err := f.clickhouse(ctx) // a dry run creates no table
		if err != nil {
			return err
		}
		o.ch = conn
		o.closers = append(o.closers, func() { conn.Close() })
	}
	switch {
	case f.CorridorsFile != "":
		params.Corridors, err = ReadCorridorsFile(f.CorridorsFile)
	case f.Profiles == "clickhouse":
		params.Corridors, err = CorridorsFromClickHouse(ctx, o.ch, f.CH.Database, stderr)
	default:
		if o.js == nil {
			nc, js, cerr := f.nats(ctx)
			if cerr != nil {
				return fmt.Errorf("-profiles kv: %w", cerr)
			}
			o.js = js
			o.closers = append(o.closers, nc.Close)
		}
		var kv jetstream.KeyValue
		kv, err = o.js.KeyValue(ctx, natsx.BucketProfiles)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			params.Corridors, err = Corridors{}, nil
		} else if err == nil {
			params.Corridors, err = CorridorsFromKV(ctx, kv, stderr)
		}
	}
	if err != nil {
		return err
	}
	if len(f.Budgets) > 0 {
		if params.Corridors, err = params.Corridors.WithBudgets(f.Budgets); err != nil {
			return err
		}
	}
	runID := f.RunID
	if runID == "" {
		runID = NewRunID(time.Now())
	}
	rec, err := Research(ctx, ResearchConfig{
		RunID: runID, Source: src, Selection: f.Selection, Params: params,
		ParamsRecord: f.record(), Command: f.command(), Store: store,
		Out: f.Out, Format: f.Format, Stdout: stdout, Pace: f.Pace, Progress: f.progress(stderr),
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("run %s interrupted, nothing of it kept: %w", runID, err)
		}
		return err
	}
	w := stdout
	if f.Out == "-" {
		w = stderr // stdout carries the export
	}
	verb := "stored"
	if f.DryRun {
		verb = "dry run, not stored"
	}
	fmt.Fprintf(w, "run %s (%s): %d beacons, %d drift events, %d alignment records", rec.RunID, verb, rec.Beacons, rec.DriftEvents, rec.Alignments)
	if rec.Unreadable > 0 {
		fmt.Fprintf(w, ", %d unreadable beacons skipped", rec.Unreadable)
	}
	fmt.Fprintf(w, "\ndigest %s\n", rec.Digest)
	return nil
}

// record is the run's parameters as recorded with it.
func (f *researchFlags) record() map[string]any {
	m := map[string]any{
		"drift": map[string]any{
			"threshold": f.Drift.Threshold, "confirm": f.Drift.Confirm, "alpha": f.Drift.Alpha, "cooldown": f.Drift.Cooldown.String(),
		},
		"corridor": map[string]any{"alpha": f.CorridorAlpha},
	}
	c := m["corridor"].(map[string]any)
	if f.CorridorsFile != "" {
		c["corridors_file"] = f.CorridorsFile
	} else {
		c["profiles"] = f.Profiles
	}
	if len(f.Budgets) > 0 {
		c["budgets"] = f.Budgets
	}
	return m
}

// command is the command line that repeats the run (with the same
// corridors as long as the profiles did not change, or -corridors).
func (f *researchFlags) command() string {
	args := []string{"rtt", "replay", "run", "-source", f.Source}
	args = append(args, f.Selection.Args()...)
	ff := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	args = append(args, "-drift-threshold", ff(f.Drift.Threshold), "-drift-confirm", strconv.Itoa(f.Drift.Confirm),
		"-drift-alpha", ff(f.Drift.Alpha), "-drift-cooldown", f.Drift.Cooldown.String(), "-corridor-alpha", ff(f.CorridorAlpha))
	if f.CorridorsFile != "" {
		args = append(args, "-corridors", f.CorridorsFile)
	} else {
		args = append(args, "-profiles", f.Profiles)
	}
	for _, name := range sortedKeys(f.Budgets) {
		args = append(args, "-corridor-budget", name+"="+ff(f.Budgets[name]))
	}
	return shellJoin(args)
}

func runList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c conns
	fs := newFlagSet("list", stderr)
	all := fs.Bool("all", false, "also list runs that are running, interrupted, failed or removed")
	c.registerClickHouse(fs)
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	s, closeStore, err := c.store(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	runs, err := s.Runs(ctx, *all)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTATUS\tCREATED\tSOURCE\tBEACONS\tDRIFT\tALIGNMENTS\tDIGEST\tPARAMS")
	for _, r := range runs {
		digest := r.Digest
		if len(digest) > 19 {
			digest = digest[:19]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.RunID, r.Status, r.CreatedAt.Format(time.DateTime), r.Source,
			r.Beacons, r.DriftEvents, r.Alignments, digest, paramsSummary(r.Params))
	}
	return tw.Flush()
}

// paramsSummary shows the drift parameters of a recorded run in a few
// words.
func paramsSummary(params string) string {
	var p struct {
		Drift struct {
			Threshold float64 `json:"threshold"`
			Confirm   int     `json:"confirm"`
			Alpha     float64 `json:"alpha"`
			Cooldown  string  `json:"cooldown"`
		} `json:"drift"`
		Corridor struct {
			Alpha   float64            `json:"alpha"`
			Budgets map[string]float64 `json:"budgets"`
			File    string             `json:"corridors_file"`
		} `json:"corridor"`
	}
	if json.Unmarshal([]byte(params), &p) != nil {
		return ""
	}
	s := fmt.Sprintf("threshold=%g confirm=%d alpha=%g cooldown=%s corridor-alpha=%g", p.Drift.Threshold, p.Drift.Confirm, p.Drift.Alpha, p.Drift.Cooldown, p.Corridor.Alpha)
	if p.Corridor.File != "" {
		s += " corridors=" + p.Corridor.File
	}
	for _, n := range sortedKeys(p.Corridor.Budgets) {
		s += fmt.Sprintf(" budget[%s]=%g", n, p.Corridor.Budgets[n])
	}
	return s
}

func runShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c conns
	fs := newFlagSet("show", stderr)
	c.registerClickHouse(fs)
	if err := parse(fs, args, 1, 1); err != nil {
		return err
	}
	s, closeStore, err := c.store(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	r, ok, err := s.Run(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoRun, fs.Arg(0))
	}
	out := struct {
		RunRecord
		Selection json.RawMessage `json:"selection"`
		Params    json.RawMessage `json:"params"`
	}{RunRecord: r, Selection: json.RawMessage(orNull(r.Selection)), Params: json.RawMessage(orNull(r.Params))}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func orNull(s string) string {
	if json.Valid([]byte(s)) {
		return s
	}
	return "null"
}

func runRemove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c conns
	fs := newFlagSet("rm", stderr)
	c.registerClickHouse(fs)
	if err := parse(fs, args, 1, -1); err != nil {
		return err
	}
	s, closeStore, err := c.store(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	var errs []error
	for _, id := range fs.Args() {
		if err := s.Remove(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(stdout, "removed %s\n", id)
	}
	return errors.Join(errs...)
}

func runDiff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c conns
	fs := newFlagSet("diff", stderr)
	c.registerClickHouse(fs)
	if err := parse(fs, args, 2, 2); err != nil {
		return err
	}
	s, closeStore, err := c.store(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	a, b := fs.Arg(0), fs.Arg(1)
	if a == LiveRun && b == LiveRun {
		return errors.New("diff: at least one of the two must be a research run")
	}
	runs := map[string]RunRecord{}
	for _, id := range []string{a, b} {
		if id == LiveRun {
			continue
		}
		r, ok, err := s.Run(ctx, id)
		if err != nil {
			return err
		}
		if !ok || r.Status != StatusDone {
			status := "no such run"
			if ok {
				status = "its status is " + r.Status
			}
			return fmt.Errorf("%w: %s (%s; see 'rtt replay list -all')", ErrNoRun, id, status)
		}
		runs[id] = r
	}
	events := func(id, other string) ([]DriftEvent, error) {
		if id != LiveRun {
			return s.DriftEvents(ctx, id, nil, time.Time{}, time.Time{})
		}
		// The live pipeline's events within the other run's slice: its
		// sites and the event times of its beacons.
		r := runs[other]
		var sel selectionJSON
		_ = json.Unmarshal([]byte(r.Selection), &sel)
		return s.DriftEvents(ctx, LiveRun, sel.Sites, r.FirstTS, r.LastTS)
	}
	ea, err := events(a, b)
	if err != nil {
		return err
	}
	eb, err := events(b, a)
	if err != nil {
		return err
	}
	lines, sum := DiffDrift(ea, eb)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	if len(lines) > 0 {
		fmt.Fprintln(tw, "\tSITE\tSCOPE\tEVENT_ID\tTS\tMAGNITUDE_A\tMAGNITUDE_B")
	}
	mag := func(e *DriftEvent) string {
		if e == nil {
			return "-"
		}
		return strconv.FormatFloat(e.Magnitude, 'g', 6, 64)
	}
	for _, l := range lines {
		e := l.A
		if e == nil {
			e = l.B
		}
		fmt.Fprintf(tw, "%c\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Kind, e.Site, e.Scope, e.EventID, e.TS.Format(time.RFC3339Nano), mag(l.A), mag(l.B))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d drift events, %s: %d; %d in both (%d with other values), %d only in %s, %d only in %s\n",
		a, sum.A, b, sum.B, sum.Both, sum.Changed, sum.OnlyA, a, sum.OnlyB, b)
	return nil
}
