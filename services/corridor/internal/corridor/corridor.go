// Package corridor is the corridor service: a durable consumer of beacons
// that checks every observed flow against the corridors its site declared
// (in its profile), publishes one alignment record per flow on
// rtt.alignment.<site>, and keeps a running alignment score per corridor in
// a KV bucket.
package corridor

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtt-dev/rtt/pkg/beacon"
	align "github.com/rtt-dev/rtt/pkg/corridor"
	"github.com/rtt-dev/rtt/pkg/derive"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/otelx"
	"github.com/rtt-dev/rtt/pkg/stage"
	"github.com/rtt-dev/rtt/pkg/svc"
)

// Bucket is the KV bucket of the live running scores.
const Bucket = "rtt_corridor_state"

// Config is the corridor service's configuration; every field has a flag
// and an RTT_* environment variable.
type Config struct {
	Addr         string
	NATSURL      string
	Alpha        float64
	BatchSize    int
	BatchAge     time.Duration
	DrainTimeout time.Duration
	Limits       natsx.Limits
	Log          svc.LogConfig
}

// Register adds the configuration's flags to fs.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "corridor-addr", "127.0.0.1:8082", "HTTP address of /metrics, /healthz and /readyz")
	fs.StringVar(&c.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS URL")
	fs.Float64Var(&c.Alpha, "corridor-alpha", align.DefaultAlpha, "EWMA weight of each flow in a corridor's running score")
	fs.IntVar(&c.BatchSize, "corridor-batch-size", 10000, "beacons per durable batch at most (state is written once per batch)")
	fs.DurationVar(&c.BatchAge, "corridor-batch-age", 200*time.Millisecond, "longest a beacon waits for its batch")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 15*time.Second, "how long shutdown may spend on what was delivered")
	c.Limits.Register(fs)
	c.Log.Register(fs)
}

// Validate reports the first unusable setting, naming its flag.
func (c Config) Validate() error {
	switch {
	case c.NATSURL == "":
		return errors.New("nats-url: must not be empty")
	case !(c.Alpha > 0 && c.Alpha <= 1):
		return errors.New("corridor-alpha: must be in (0, 1]")
	case c.BatchSize < 1:
		return errors.New("corridor-batch-size: must be at least 1")
	case c.BatchAge <= 0:
		return errors.New("corridor-batch-age: must be positive")
	}
	return c.Limits.Validate()
}

// Profiles keeps each site's declared corridors, following the profiles
// bucket. It is safe for concurrent use.
type Profiles struct {
	kv  jetstream.KeyValue
	log zerolog.Logger
	mu  sync.RWMutex
	by  map[string][]align.Corridor // by site; nil slice = no corridors
}

// WatchProfiles loads every profile and keeps following changes until ctx
// ends.
func WatchProfiles(ctx context.Context, kv jetstream.KeyValue, log zerolog.Logger) (*Profiles, error) {
	p := &Profiles{kv: kv, log: log, by: map[string][]align.Corridor{}}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch profiles: %w", err)
	}
	go func() {
		defer w.Stop()
		for e := range w.Updates() {
			if e == nil {
				continue // the initial values are all delivered
			}
			site, err := base64.RawURLEncoding.DecodeString(e.Key())
			if err != nil {
				continue
			}
			var cs []align.Corridor
			if e.Operation() == jetstream.KeyValuePut {
				cs = p.parse(string(site), e.Value())
			}
			p.mu.Lock()
			p.by[string(site)] = cs
			p.mu.Unlock()
		}
	}()
	return p, nil
}

func (p *Profiles) parse(site string, v []byte) []align.Corridor {
	cs, err := derive.ProfileCorridors(v)
	if err != nil {
		p.log.Warn().Err(err).Str("site", site).Msg("no corridors for the site")
		return nil
	}
	return cs
}

// Corridors returns site's corridors, reading the bucket when the watcher
// has not delivered the site yet.
func (p *Profiles) Corridors(ctx context.Context, site string) ([]align.Corridor, error) {
	p.mu.RLock()
	cs, ok := p.by[site]
	p.mu.RUnlock()
	if ok {
		return cs, nil
	}
	v, found, err := stage.Load(ctx, p.kv, base64.RawURLEncoding.EncodeToString([]byte(site)))
	if err != nil {
		return nil, err
	}
	if found {
		cs = p.parse(site, v)
	}
	p.mu.Lock()
	if _, raced := p.by[site]; !raced {
		p.by[site] = cs
	}
	p.mu.Unlock()
	return cs, nil
}

// Processor aligns the flows of beacons; it is the stage's logic.
type Processor struct {
	profiles *Profiles
	scores   *align.Scores
	kv       jetstream.KeyValue
	runID    string
	log      zerolog.Logger

	outcomes *prometheus.CounterVec
	pending  map[string]int
}

// NewProcessor returns a processor for run runID ("" for live) reading
// missing scores from kv.
func NewProcessor(profiles *Profiles, alpha float64, kv jetstream.KeyValue, runID string, log zerolog.Logger, reg prometheus.Registerer) *Processor {
	p := &Processor{
		profiles: profiles, scores: align.NewScores(alpha), kv: kv, runID: runID, log: log,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtt_corridor_alignments_total",
			Help: "Flows checked, by outcome: on_corridor, off_path, over_budget, unmatched.",
		}, []string{"outcome"}),
		pending: map[string]int{},
	}
	reg.MustRegister(p.outcomes)
	return p
}

// ScoreKey is the KV key of one site's corridor.
func ScoreKey(site, corridor string) string { return derive.ScoreKey(site, corridor) }

func outcome(a align.Alignment) string {
	switch {
	case !a.Matched:
		return "unmatched"
	case a.OnCorridor:
		return "on_corridor"
	case !a.PathMatch:
		return "off_path"
	default:
		return "over_budget"
	}
}

// Process implements stage.Processor.
func (p *Processor) Process(ctx context.Context, in stage.Beacon) ([]*nats.Msg, error) {
	b, err := beacon.FromStored(in.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", stage.ErrPoison, err)
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("rtt.site", b.Site), attribute.String("rtt.event", b.Event))
	if len(b.Flows) == 0 {
		return nil, nil
	}
	corridors, err := p.profiles.Corridors(ctx, b.Site)
	if err != nil {
		return nil, err
	}
	eventID := in.EventID
	var out []*nats.Msg
	for i := range b.Flows {
		rec := derive.Alignment(p.runID, b, eventID, i, corridors)
		a := rec.Alignment
		if a.Matched {
			key := derive.ScoreKey(b.Site, a.Corridor)
			if err := p.loadScore(ctx, key); err != nil {
				return nil, err
			}
			running, total, on, applied := p.scores.Observe(key, derive.ScoreSeq(in.Pos, i), a)
			if !applied {
				continue // a redelivery whose record was already published
			}
			rec.RunningScore, rec.Total, rec.OnTotal = running, total, on
		}
		data, err := rec.AppendJSON(make([]byte, 0, 768))
		if err != nil {
			return nil, fmt.Errorf("%w: encode alignment: %v", stage.ErrPoison, err)
		}
		m := nats.NewMsg("rtt.alignment." + beacon.Token(b.Site))
		m.Data = data
		m.Header.Set(nats.MsgIdHdr, rec.RecordID)
		otelx.Inject(ctx, m.Header)
		out = append(out, m)
		p.pending[outcome(a)]++
	}
	return out, nil
}

func (p *Processor) loadScore(ctx context.Context, key string) error {
	if _, ok := p.scores.Get(key); ok {
		return nil
	}
	v, ok, err := stage.Load(ctx, p.kv, key)
	if err != nil || !ok {
		return err
	}
	if err := p.scores.Load(key, v); err != nil {
		p.log.Warn().Err(err).Msg("stored corridor score unreadable; starting afresh")
	}
	return nil
}

// Dirty implements stage.Processor.
func (p *Processor) Dirty() map[string][]byte {
	return stage.DirtySnapshots(p.scores)
}

// Commit implements stage.Processor.
func (p *Processor) Commit() {
	p.scores.ClearDirty()
	for o, n := range p.pending {
		p.outcomes.WithLabelValues(o).Add(float64(n))
	}
	clear(p.pending)
}

// Rollback implements stage.Processor.
func (p *Processor) Rollback() {
	stage.ForgetDirty(p.scores)
	clear(p.pending)
}
