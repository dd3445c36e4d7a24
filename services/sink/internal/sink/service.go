package sink

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtt-dev/rtt/pkg/chx"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/promx"
	"github.com/rtt-dev/rtt/pkg/svc"
	"github.com/rtt-dev/rtt/schemas"
)

// Config is the sink's configuration; every field has a flag and an RTT_*
// environment variable.
type Config struct {
	Addr         string
	NATSURL      string
	ClickHouse   chx.Config
	BatchSize    int
	BatchAge     time.Duration
	RetryBackoff time.Duration
	DrainTimeout time.Duration
	Retention    time.Duration
	Limits       natsx.Limits
	Log          svc.LogConfig
}

// Register adds the configuration's flags to fs.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "sink-addr", "127.0.0.1:8083", "HTTP address of the sink's /metrics, /healthz and /readyz")
	fs.StringVar(&c.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS URL")
	fs.StringVar(&c.ClickHouse.Addr, "clickhouse-addr", "127.0.0.1:9000", "ClickHouse native protocol address")
	fs.StringVar(&c.ClickHouse.Database, "clickhouse-database", "rtt", "ClickHouse database (created with its tables on start)")
	fs.StringVar(&c.ClickHouse.Username, "clickhouse-user", "default", "ClickHouse user")
	fs.StringVar(&c.ClickHouse.Password, "clickhouse-password", "", "ClickHouse password")
	fs.IntVar(&c.BatchSize, "sink-batch-size", 5000, "messages per INSERT batch at most")
	fs.DurationVar(&c.BatchAge, "sink-batch-age", 500*time.Millisecond, "longest a message waits for its batch to fill")
	fs.DurationVar(&c.RetryBackoff, "sink-retry-backoff", 250*time.Millisecond, "first pause before retrying a failed INSERT (doubles up to 5s)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 15*time.Second, "how long shutdown may spend flushing what was delivered")
	fs.DurationVar(&c.Retention, "clickhouse-retention", 0, "drop ClickHouse partitions older than this (0 keeps everything; e.g. 2160h for 90 days)")
	c.Limits.Register(fs)
	c.Log.Register(fs)
}

// Validate reports the first unusable setting, naming its flag.
func (c Config) Validate() error {
	switch {
	case c.NATSURL == "":
		return errors.New("nats-url: must not be empty")
	case c.ClickHouse.Addr == "":
		return errors.New("clickhouse-addr: must not be empty")
	case !validIdent(c.ClickHouse.Database):
		return errors.New("clickhouse-database: letters, digits and underscores only")
	case c.BatchSize < 1 || c.BatchSize > 1_000_000:
		return errors.New("sink-batch-size: must be between 1 and 1000000")
	case c.BatchAge <= 0:
		return errors.New("sink-batch-age: must be positive")
	case c.RetryBackoff <= 0:
		return errors.New("sink-retry-backoff: must be positive")
	case c.Retention < 0 || c.Retention > 0 && c.Retention < 24*time.Hour:
		return errors.New("clickhouse-retention: must be 0 (keep everything) or at least 24h")
	}
	return c.Limits.Validate()
}

func validIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// LogEffective logs the configuration once, secrets masked.
func (c Config) LogEffective(log zerolog.Logger) {
	log.Info().Str("addr", c.Addr).Str("nats_url", c.NATSURL).
		Str("clickhouse_addr", c.ClickHouse.Addr).Str("clickhouse_database", c.ClickHouse.Database).
		Str("clickhouse_user", c.ClickHouse.Username).Str("clickhouse_password", svc.Mask(c.ClickHouse.Password)).
		Int("batch_size", c.BatchSize).Dur("batch_age", c.BatchAge).Msg("configuration")
}

// Service is the running sink.
type Service struct {
	cfg Config
	log zerolog.Logger
	reg *prometheus.Registry
	tp  trace.TracerProvider

	ch       driver.Conn
	nc       *nats.Conn
	httpSrv  *http.Server
	listener net.Listener
	ready    atomic.Bool
	wg       sync.WaitGroup
	errs     chan error

	shutdownOnce sync.Once
}

// New returns a sink; Start brings it up. Its spans go to tp (nil: spans
// give ids only).
func New(cfg Config, log zerolog.Logger, reg *prometheus.Registry, tp trace.TracerProvider) *Service {
	if tp == nil {
		tp = sdktrace.NewTracerProvider()
	}
	return &Service{cfg: cfg, log: log, reg: reg, tp: tp, errs: make(chan error, len(consumers))}
}

// Start serves /healthz and /metrics at once, then waits for ClickHouse
// (retrying until ctx ends), applies the migrations, connects to NATS and
// starts one consumer per stream. Consumers stop when ctx ends; call
// Shutdown afterwards to wait for them.
func (s *Service) Start(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	if err := s.serveHTTP(); err != nil {
		return err
	}
	var err error
	s.ch, err = s.openClickHouse(ctx)
	if err != nil {
		return err
	}
	applied, err := chx.Migrate(ctx, s.ch, schemas.ClickHouse(), s.cfg.ClickHouse.Database)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	s.log.Info().Strs("applied", applied).Str("database", s.cfg.ClickHouse.Database).Msg("migrations up to date")
	s.nc, err = natsx.Connect(ctx, s.cfg.NATSURL, "rtt-sink", s.log)
	if err != nil {
		return err
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return err
	}
	if err := natsx.EnsureStreams(ctx, js, s.cfg.Limits); err != nil {
		return err
	}
	w := &Writer{
		w:  NewClickHouseWriter(s.ch, s.cfg.ClickHouse.Database),
		js: js, log: s.log, m: newMetrics(s.reg), backoff: s.cfg.RetryBackoff,
		tracer: s.tp.Tracer("github.com/rtt-dev/rtt/services/sink"),
	}
	var all []jetstream.Consumer
	for _, spec := range consumers {
		cons, err := ensureConsumer(ctx, js, spec, 4*s.cfg.BatchSize)
		if err != nil {
			return err
		}
		all = append(all, cons)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			flush, wait := w.Pipeline()
			err := natsx.Batches(ctx, cons, natsx.BatchOptions{
				Size: s.cfg.BatchSize, Age: s.cfg.BatchAge, Drain: s.cfg.DrainTimeout, Weight: rowsOf, Settle: wait,
			}, flush)
			if err != nil {
				s.log.Error().Err(err).Str("consumer", spec.durable).Msg("consumer stopped")
				s.errs <- fmt.Errorf("consumer %s: %w", spec.durable, err)
			}
		}()
	}
	s.reg.MustRegister(natsx.NewConsumerCollector(all...))
	if s.cfg.Retention > 0 {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.retain(ctx) }()
	}
	s.ready.Store(true)
	s.log.Info().Str("ops", s.Addr()).Str("clickhouse", s.cfg.ClickHouse.Addr).Str("nats", s.cfg.NATSURL).Msg("sink ready")
	return nil
}

// Done delivers a consumer's failure.
func (s *Service) Done() <-chan error { return s.errs }

func (s *Service) openClickHouse(ctx context.Context) (driver.Conn, error) {
	// Connect to the server's default database: ours may not exist until
	// the migrations create it, and every statement names it anyway.
	cfg := s.cfg.ClickHouse
	cfg.Database = ""
	pause := 250 * time.Millisecond
	for {
		conn, err := chx.Open(ctx, cfg)
		if err == nil {
			return conn, nil
		}
		s.log.Warn().Err(err).Str("addr", s.cfg.ClickHouse.Addr).Msg("ClickHouse not reachable yet, retrying")
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("ClickHouse at %s: %w", s.cfg.ClickHouse.Addr, err)
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

func (s *Service) serveHTTP() error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promx.Handler(s.reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			writeStatus(w, http.StatusServiceUnavailable, "starting")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.ch.Ping(ctx); err != nil {
			writeStatus(w, http.StatusServiceUnavailable, "ClickHouse: "+err.Error())
			return
		}
		if !s.nc.IsConnected() {
			writeStatus(w, http.StatusServiceUnavailable, "not connected to NATS")
			return
		}
		writeStatus(w, http.StatusOK, "ok")
	})
	var err error
	s.listener, err = net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.httpSrv.Serve(s.listener)
	return nil
}

func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"status": status})
}

// Addr is the HTTP listen address.
func (s *Service) Addr() string { return s.listener.Addr().String() }

// Shutdown waits for the consumers (which stop when Start's ctx ends, after
// flushing what they hold), then closes the connections. Idempotent.
func (s *Service) Shutdown(ctx context.Context) error {
	var err error
	s.shutdownOnce.Do(func() {
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = errors.New("consumers did not stop in time")
		}
		if s.httpSrv != nil {
			_ = s.httpSrv.Shutdown(ctx)
		}
		if s.nc != nil {
			_ = s.nc.Drain()
		}
		if s.ch != nil {
			_ = s.ch.Close()
		}
		s.log.Info().Msg("sink stopped")
	})
	return err
}
