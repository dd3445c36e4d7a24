// Package bench measures rtt on one machine side by side with the raw
// limits of the servers it is built on: JetStream publish and ClickHouse
// insert of the same beacons, then ingest, the sink and the whole pipeline
// as separate processes, their memory, and the Go benchmarks of the hot
// functions. cmd/rtt-bench runs it (make bench).
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtt-dev/rtt/pkg/batch"
	"github.com/rtt-dev/rtt/pkg/chx"
	"github.com/rtt-dev/rtt/pkg/chx/chserver"
	"github.com/rtt-dev/rtt/pkg/natsx"
)

// Config is one bench run. Zero fields take the defaults of Defaults.
type Config struct {
	// Runs is how many times each figure is measured; the median is kept.
	Runs int
	// Beacons is the size of each throughput run (figures 1 to 4).
	Beacons int
	// Batch is how many beacons go into one POST /beacons.
	Batch int
	// Clients is how many POST /beacons are in flight at once (figure 2).
	Clients int
	// Window is how long each step of the end-to-end search is measured,
	// after a warm-up of a third of it.
	Window time.Duration
	// Sites is how many simulated datacenters send beacons.
	Sites int
	// Out is where the figures are written as JSON.
	Out string
	// BinDir holds prebuilt service binaries; empty builds them.
	BinDir string
	// Keep keeps the work folder (NATS and ClickHouse data, service logs).
	Keep bool
	// GoBench runs the Go benchmarks of the hot functions too.
	GoBench bool
	// E2ERate, when positive, skips the end-to-end search and measures at
	// this offered rate (to profile the pipeline at a known load).
	E2ERate float64
	// Only, when not empty, runs only the named phases (jetstream, ingest,
	// sink, clickhouse, e2e, go).
	Only []string
}

// Defaults are the settings of make bench: about seven minutes on two cores.
func Defaults() Config {
	return Config{
		Runs: 3, Beacons: 200_000, Batch: 100, Clients: 8, Window: 9 * time.Second, Sites: 200,
		Out: ".data/bench/latest.json", GoBench: true,
	}
}

// Figure is one measured value: the median of Runs.
type Figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`

	runs []float64 // each run's value, for the table
	note string
}

// Report is what a bench run measured.
type Report struct {
	Machine Machine
	Figures []Figure
	Notes   []string
}

func (r *Report) add(f Figure) { r.Figures = append(r.Figures, f) }

func (r *Report) get(name string) (float64, bool) {
	for _, f := range r.Figures {
		if f.Name == name {
			return f.Value, true
		}
	}
	return 0, false
}

func (r *Report) notef(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// median returns the median of vs (the mean of the middle two when even).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// env is the running stack the phases share: ClickHouse, ingest with its
// embedded NATS, and a connection to both.
type env struct {
	cfg       Config
	log       io.Writer
	root      string
	work      string
	binDir    string
	corpus    *Corpus
	ch        *chserver.Server
	chConn    driver.Conn
	ingest    *proc
	ingestEnv []string
	api       string // base URL of the API
	natsURL   string
	nc        *nats.Conn
	js        jetstream.JetStream
	rowCols   []string // the beacons rows of the sink's first run,
	rows      [][]any  // as read back from ClickHouse
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.log, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func (e *env) bin(name string) string { return filepath.Join(e.binDir, name) }

// Run measures everything cfg asks for, logging progress to progress, and
// returns the report. The services and ClickHouse it started are stopped
// before it returns.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Report, error) {
	d := Defaults()
	if cfg.Runs <= 0 {
		cfg.Runs = d.Runs
	}
	if cfg.Beacons <= 0 {
		cfg.Beacons = d.Beacons
	}
	if cfg.Batch <= 0 {
		cfg.Batch = d.Batch
	}
	if cfg.Clients <= 0 {
		cfg.Clients = d.Clients
	}
	if cfg.Window <= 0 {
		cfg.Window = d.Window
	}
	if cfg.Sites <= 0 {
		cfg.Sites = d.Sites
	}
	started := time.Now()
	rep := &Report{Machine: ReadMachine()}
	e := &env{cfg: cfg, log: progress}
	var err error
	if e.root, err = moduleRoot(); err != nil {
		return nil, err
	}
	if e.work, err = os.MkdirTemp("", "rtt-bench-"); err != nil {
		return nil, err
	}
	if cfg.Keep {
		e.logf("work folder %s (kept)", e.work)
	} else {
		defer os.RemoveAll(e.work)
	}
	defer e.close()
	if err := e.start(ctx); err != nil {
		return nil, err
	}
	rep.notef("payload: the load generator's mix over %d sites, mean %.0f bytes (%s)", cfg.Sites, e.corpus.MeanSize(), mixString(e.corpus.Mix()))
	phases := []struct {
		name string
		run  func(context.Context, *Report) error
	}{
		{"jetstream", e.phaseJetStream},
		{"ingest", e.phaseIngest},
		{"sink", e.phaseSink},
		{"clickhouse", e.phaseClickHouse},
		{"e2e", e.phaseEndToEnd},
	}
	for _, p := range phases {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, p.name) {
			continue
		}
		m0 := readCPU()
		if err := p.run(ctx, rep); err != nil {
			return rep, fmt.Errorf("%s: %w", p.name, err)
		}
		e.background(rep, p.name, m0)
	}
	e.close()
	if cfg.GoBench && (len(cfg.Only) == 0 || slices.Contains(cfg.Only, "go")) {
		m0 := readCPU()
		if err := e.phaseGoBench(ctx, rep); err != nil {
			return rep, fmt.Errorf("go benchmarks: %w", err)
		}
		e.background(rep, "go", m0)
	}
	addRatios(rep)
	rep.notef("bench took %s", time.Since(started).Round(time.Second))
	return rep, nil
}

// background records how many CPUs processes other than the bench's kept
// busy during a phase: the figures are only comparable on a quiet machine.
func (e *env) background(rep *Report, phase string, m0 cpuMark) {
	cpus := foreign(m0, readCPU())
	rep.add(Figure{Name: "background_cpu_" + phase, Value: cpus, Unit: "CPUs"})
	if cpus > 0.05*float64(rep.Machine.CPUs) {
		e.logf("warning: other processes kept %.2f of %d CPUs busy during the %s phase", cpus, rep.Machine.CPUs, phase)
		rep.notef("other processes kept %.2f of %d CPUs busy during the %s phase: its figures are low by about that share", cpus, rep.Machine.CPUs, phase)
	}
}

func mixString(m map[string]int) string {
	total := 0
	for _, n := range m {
		total += n
	}
	var parts []string
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", k, 100*float64(n)/float64(total)))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// start builds the services, captures the corpus, starts ClickHouse and
// ingest, and connects to both.
func (e *env) start(ctx context.Context) error {
	e.binDir = e.cfg.BinDir
	if e.binDir == "" {
		e.binDir = filepath.Join(e.work, "bin")
		e.logf("building the services")
		if err := buildServices(ctx, e.root, e.binDir); err != nil {
			return err
		}
	}
	var err error
	e.logf("capturing the load generator's beacons (%d sites)", e.cfg.Sites)
	if e.corpus, err = captureCorpus(ctx, 20_000, e.cfg.Sites); err != nil {
		return err
	}
	e.logf("starting ClickHouse")
	if e.ch, err = chserver.Start(ctx, chserver.Options{Dir: filepath.Join(e.work, "clickhouse")}); err != nil {
		return err
	}
	if e.chConn, err = chx.Open(ctx, chx.Config{Addr: e.ch.Addr()}); err != nil {
		return err
	}
	apiPort, err := freePort()
	if err != nil {
		return err
	}
	natsPort, err := freePort()
	if err != nil {
		return err
	}
	e.api = fmt.Sprintf("http://127.0.0.1:%d/api/rtt", apiPort)
	e.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	e.ingestEnv = []string{
		fmt.Sprintf("RTT_ADDR=127.0.0.1:%d", apiPort),
		fmt.Sprintf("RTT_NATS_PORT=%d", natsPort),
		"RTT_DATA_DIR=" + filepath.Join(e.work, "ingest"),
	}
	e.logf("starting ingest with its embedded NATS server")
	return e.startIngest(ctx)
}

// startIngest starts ingest (its embedded NATS server keeps the streams in
// the work folder, so a restart finds them) and connects to its NATS.
func (e *env) startIngest(ctx context.Context) error {
	var err error
	e.ingest, err = startProc(ctx, e.bin("ingest"), "ingest", e.work, e.ingestEnv,
		strings.TrimSuffix(e.api, "/api/rtt")+"/readyz")
	if err != nil {
		return err
	}
	if e.nc, err = nats.Connect(e.natsURL, nats.Name("rtt-bench")); err != nil {
		return err
	}
	e.js, err = jetstream.New(e.nc)
	return err
}

// restartIngest stops ingest and starts it again: a new process, whose
// peak memory is that of what follows.
func (e *env) restartIngest(ctx context.Context) error {
	e.nc.Close()
	if err := e.ingest.stop(); err != nil {
		return err
	}
	return e.startIngest(ctx)
}

// close stops what start started; it is idempotent.
func (e *env) close() {
	if e.nc != nil {
		e.nc.Close()
		e.nc = nil
	}
	if e.ingest != nil {
		if err := e.ingest.stop(); err != nil {
			e.logf("%v", err)
		}
		e.ingest = nil
	}
	if e.chConn != nil {
		e.chConn.Close()
		e.chConn = nil
	}
	if e.ch != nil {
		e.ch.Stop()
		e.ch = nil
	}
}

// purge empties a stream and deletes its consumers, so a phase starts from
// the same state.
func (e *env) purge(ctx context.Context, stream string) error {
	if err := e.dropConsumers(ctx, stream); err != nil {
		return err
	}
	s, err := e.js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	return s.Purge(ctx)
}

// streamMsgs is the number of messages a stream holds.
func (e *env) streamMsgs(ctx context.Context, stream string) (uint64, error) {
	s, err := e.js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// census counts the beacons RTT_BEACONS holds from its headers alone (a
// message of POST /beacons carries many): cum[i] is how many the messages
// first..first+i hold together.
type census struct {
	first uint64
	cum   []uint64
}

// total is how many beacons the stream holds.
func (c census) total() uint64 {
	if len(c.cum) == 0 {
		return 0
	}
	return c.cum[len(c.cum)-1]
}

// upTo is how many beacons the messages up to stream sequence seq hold.
func (c census) upTo(seq uint64) uint64 {
	if seq < c.first || len(c.cum) == 0 {
		return 0
	}
	return c.cum[min(seq-c.first, uint64(len(c.cum)-1))]
}

func (e *env) beaconCensus(ctx context.Context) (census, error) {
	s, err := e.js.Stream(ctx, natsx.StreamBeacons)
	if err != nil {
		return census{}, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return census{}, err
	}
	c := census{first: info.State.FirstSeq}
	if info.State.Msgs == 0 {
		return c, nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{HeadersOnly: true})
	if err != nil {
		return census{}, err
	}
	it, err := cons.Messages()
	if err != nil {
		return census{}, err
	}
	defer it.Stop()
	n := uint64(0)
	for {
		m, err := it.Next()
		if err != nil {
			return census{}, fmt.Errorf("census of %s: %w", natsx.StreamBeacons, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return census{}, err
		}
		for uint64(len(c.cum)) < md.Sequence.Stream-c.first {
			c.cum = append(c.cum, n) // a gap: deleted messages hold nothing
		}
		n += uint64(batch.Count(m.Subject(), m.Headers()))
		c.cum = append(c.cum, n)
		if md.Sequence.Stream >= info.State.LastSeq {
			return c, nil
		}
	}
}

// addRatios adds figure 7.
func addRatios(rep *Report) {
	ratio := func(name, num, den string) {
		a, ok1 := rep.get(num)
		b, ok2 := rep.get(den)
		if ok1 && ok2 && b > 0 {
			rep.add(Figure{Name: name, Value: a / b, Unit: "ratio"})
		}
	}
	ratio("ratio_ingest_to_raw_jetstream", "ingest_http_beacons", "raw_jetstream_publish")
	ratio("ratio_sink_to_raw_clickhouse", "sink_rows", "raw_clickhouse_insert")
	ratio("ratio_e2e_to_raw_jetstream", "e2e_sustained_rate", "raw_jetstream_publish")
}

// Targets are the goals, by figure name: the value must be at least
// Min or at most Max.
var Targets = map[string]struct{ Min, Max float64 }{
	"ratio_ingest_to_raw_jetstream":       {Min: 0.7},
	"ratio_sink_to_raw_clickhouse":        {Min: 0.7},
	"ratio_e2e_to_raw_jetstream":          {Min: 0.5},
	"e2e_latency_p99":                     {Max: 2000},
	"rss_peak_ingest":                     {Max: 256},
	"state_drift_corridor_bytes_per_site": {Max: 2048},
}

// TargetMet says whether f meets its target; ok is false when it has none.
func TargetMet(f Figure) (met, ok bool) {
	t, ok := Targets[f.Name]
	if !ok {
		return false, false
	}
	if t.Max > 0 {
		return f.Value <= t.Max, true
	}
	return f.Value >= t.Min, true
}

// WriteTable prints the figures as an aligned table.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "machine: %s\n\n", r.Machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tunit\truns\ttarget")
	for _, f := range r.Figures {
		var runs []string
		for _, v := range f.runs {
			runs = append(runs, format(v))
		}
		target := ""
		if met, ok := TargetMet(f); ok {
			t := Targets[f.Name]
			if t.Max > 0 {
				target = "<= " + format(t.Max)
			} else {
				target = ">= " + format(t.Min)
			}
			if met {
				target += " met"
			} else {
				target += " MISSED"
			}
		}
		if f.note != "" {
			target = strings.TrimSpace(target + "  " + f.note)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Name, format(f.Value), f.Unit, strings.Join(runs, " "), target)
	}
	tw.Flush()
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintln(w, "- "+n)
		}
	}
}

func format(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// WriteJSON writes the figures to path as a JSON array of
// {name, value, unit}, creating the folder.
func (r *Report) WriteJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r.Figures, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// beaconStream is the stream config of RTT_BEACONS, as every service
// creates it.
func beaconStream() jetstream.StreamConfig {
	for _, c := range natsx.StreamConfigs(natsx.DefaultLimits()) {
		if c.Name == natsx.StreamBeacons {
			return c
		}
	}
	panic("no " + natsx.StreamBeacons + " in natsx.StreamConfigs")
}
