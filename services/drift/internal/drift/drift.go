// Package drift is the drift service: a durable consumer of beacons that
// keeps a structural baseline per site and scope (pkg/drift), publishes a
// drift event on rtt.drift.<site> when a change is confirmed, and keeps its
// state in a KV bucket so it survives restarts.
package drift

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/derive"
	detector "github.com/rtt-dev/rtt/pkg/drift"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/otelx"
	"github.com/rtt-dev/rtt/pkg/promx"
	"github.com/rtt-dev/rtt/pkg/stage"
	"github.com/rtt-dev/rtt/pkg/svc"
)

// Bucket is the KV bucket of the live drift state.
const Bucket = "rtt_drift_state"

// Config is the drift service's configuration; every field has a flag and
// an RTT_* environment variable.
type Config struct {
	Addr         string
	NATSURL      string
	Params       detector.Params
	BatchSize    int
	BatchAge     time.Duration
	DrainTimeout time.Duration
	MaxClusters  int
	Limits       natsx.Limits
	Log          svc.LogConfig
}

// Register adds the configuration's flags to fs.
func (c *Config) Register(fs *flag.FlagSet) {
	d := detector.DefaultParams()
	fs.StringVar(&c.Addr, "drift-addr", "127.0.0.1:8081", "HTTP address of /metrics, /healthz and /readyz")
	fs.StringVar(&c.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS URL")
	fs.Float64Var(&c.Params.Threshold, "drift-threshold", d.Threshold, "drift magnitude at or above which a beacon counts as drifted")
	fs.IntVar(&c.Params.Confirm, "drift-confirm", d.Confirm, "consecutive drifted beacons before a drift event (debounces flapping)")
	fs.Float64Var(&c.Params.Alpha, "drift-alpha", d.Alpha, "EWMA weight of a normal beacon in the baseline")
	fs.DurationVar(&c.Params.Cooldown, "drift-cooldown", d.Cooldown, "least event time between two drift events of one site and scope")
	fs.IntVar(&c.BatchSize, "drift-batch-size", 10000, "beacons per durable batch at most (state is written once per batch)")
	fs.DurationVar(&c.BatchAge, "drift-batch-age", 200*time.Millisecond, "longest a beacon waits for its batch")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 15*time.Second, "how long shutdown may spend on what was delivered")
	fs.IntVar(&c.MaxClusters, "metrics-max-clusters", 1000, "distinct cluster label values in metrics before they fold into __overflow__")
	c.Limits.Register(fs)
	c.Log.Register(fs)
}

// Validate reports the first unusable setting, naming its flag.
func (c Config) Validate() error {
	if err := c.Params.Validate(); err != nil {
		return fmt.Errorf("drift parameters: %w", err)
	}
	switch {
	case c.NATSURL == "":
		return errors.New("nats-url: must not be empty")
	case c.BatchSize < 1:
		return errors.New("drift-batch-size: must be at least 1")
	case c.BatchAge <= 0:
		return errors.New("drift-batch-age: must be positive")
	case c.MaxClusters < 1:
		return errors.New("metrics-max-clusters: must be at least 1")
	}
	return c.Limits.Validate()
}

// Processor applies beacons to the detector; it is the stage's logic.
type Processor struct {
	tracker *detector.Tracker
	kv      jetstream.KeyValue
	runID   string
	log     zerolog.Logger
	now     func() time.Time

	clusters *promx.LabelCap
	events   *prometheus.CounterVec
	beacons  prometheus.Counter
	mag      prometheus.Histogram
	keys     prometheus.GaugeFunc
	pending  map[string]int // drift events per cluster label, counted at Commit
}

// NewProcessor returns a processor with live (empty run id) or research
// (non-empty run id) identity, reading missing state from kv.
func NewProcessor(p detector.Params, kv jetstream.KeyValue, runID string, maxClusters int, log zerolog.Logger, reg prometheus.Registerer) *Processor {
	pr := &Processor{
		tracker:  detector.NewTracker(p),
		kv:       kv,
		runID:    runID,
		log:      log,
		now:      func() time.Time { return time.Now().UTC() },
		clusters: promx.NewLabelCap(maxClusters),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtt_drift_events_total",
			Help: "Drift events published, by cluster (the beacon's labels.cluster, else its site).",
		}, []string{"cluster"}),
		beacons: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtt_drift_beacons_total", Help: "Beacons measured against their baseline.",
		}),
		mag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rtt_drift_magnitude", Help: "Drift magnitude of each beacon.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5},
		}),
		pending: map[string]int{},
	}
	pr.keys = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rtt_drift_tracked_keys", Help: "Site and scope pairs with a baseline in memory.",
	}, func() float64 { return float64(pr.tracker.Len()) })
	reg.MustRegister(pr.events, pr.beacons, pr.mag, pr.keys)
	return pr
}

// StateKey is the KV key of one site and scope.
func StateKey(site, scope string) string { return derive.DriftKey(site, scope) }

// Process implements stage.Processor.
func (p *Processor) Process(ctx context.Context, in stage.Beacon) ([]*nats.Msg, error) {
	b, err := beacon.FromStored(in.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", stage.ErrPoison, err)
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("rtt.site", b.Site), attribute.String("rtt.event", b.Event))
	eventID := in.EventID
	scope := b.KeyScope()
	key := StateKey(b.Site, scope)
	if !p.tracker.Has(key) {
		v, ok, err := stage.Load(ctx, p.kv, key)
		if err != nil {
			return nil, err
		}
		if ok {
			if err := p.tracker.Load(key, v); err != nil {
				p.log.Warn().Err(err).Str("site", b.Site).Str("scope", scope).Msg("stored drift state unreadable; starting a new baseline")
			}
		}
	}
	m, ev, applied := p.tracker.Step(key, derive.DriftInput(b, eventID, in.Pos))
	if !applied {
		return nil, nil
	}
	p.beacons.Inc()
	p.mag.Observe(m.Magnitude)
	if ev == nil {
		return nil, nil
	}
	rec := derive.DriftRecord(p.runID, b, *ev, p.now())
	cluster := rec.Cluster
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("%w: encode drift event: %v", stage.ErrPoison, err)
	}
	out := nats.NewMsg("rtt.drift." + beacon.Token(b.Site))
	out.Data = data
	out.Header.Set(nats.MsgIdHdr, rec.DriftID)
	otelx.Inject(ctx, out.Header)
	if p.runID != "" {
		out.Header.Set(natsx.HeaderRunID, p.runID)
	}
	p.pending[cluster]++
	p.log.Info().Str("site", b.Site).Str("scope", scope).Float64("magnitude", ev.Magnitude).
		Str("event_id", ev.EventID).Int("streak", ev.Streak).Msg("drift detected")
	return []*nats.Msg{out}, nil
}

// Dirty implements stage.Processor.
func (p *Processor) Dirty() map[string][]byte {
	return stage.DirtySnapshots(p.tracker)
}

// Commit implements stage.Processor.
func (p *Processor) Commit() {
	p.tracker.ClearDirty()
	for c, n := range p.pending {
		p.events.WithLabelValues(p.clusters.Value(c)).Add(float64(n))
	}
	clear(p.pending)
}

// Rollback implements stage.Processor.
func (p *Processor) Rollback() {
	stage.ForgetDirty(p.tracker)
	clear(p.pending)
}
