package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/promx"
	"github.com/rtt-dev/rtt/pkg/schema"
	"github.com/rtt-dev/rtt/schemas"
)

// Service is the running ingest: optionally an embedded NATS server, the
// connection to JetStream and the HTTP server.
type Service struct {
	cfg Config
	log zerolog.Logger
	reg *prometheus.Registry
	tp  trace.TracerProvider

	ns       *server.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	httpSrv  *http.Server
	listener net.Listener
	served   chan error

	shutdownOnce sync.Once
	shutdownErr  error
}

// New returns an ingest service; Start brings it up. Its spans go to tp
// (nil: spans only give ids, nothing is exported).
func New(cfg Config, log zerolog.Logger, reg *prometheus.Registry, tp trace.TracerProvider) *Service {
	if tp == nil {
		tp = sdktrace.NewTracerProvider()
	}
	return &Service{cfg: cfg, log: log, reg: reg, tp: tp}
}

// Start starts the embedded NATS server (unless an external URL is set),
// connects, creates the streams, and listens for HTTP. It returns once the
// API accepts requests.
func (s *Service) Start(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	set, err := schema.Compile(schemas.JSON())
	if err != nil {
		return err
	}
	url := s.cfg.NATSURL
	if url == "" {
		s.ns, err = natsx.StartEmbedded(natsx.EmbeddedConfig{
			Dir: s.cfg.NATSDir(), Host: s.cfg.NATSHost, Port: s.cfg.NATSPort,
			MaxStore: s.cfg.NATSMaxStore, Name: "rtt-ingest",
		}, s.log)
		if err != nil {
			return err
		}
		url = s.ns.ClientURL()
	}
	s.nc, err = natsx.Connect(ctx, url, "rtt-ingest", s.log)
	if err != nil {
		return errors.Join(err, s.Shutdown(context.Background()))
	}
	s.js, err = jetstream.New(s.nc, jetstream.WithPublishAsyncMaxPending(s.cfg.PublishWindow))
	if err != nil {
		return errors.Join(err, s.Shutdown(context.Background()))
	}
	if err := natsx.EnsureStreams(ctx, s.js, s.cfg.Limits); err != nil {
		return errors.Join(err, s.Shutdown(context.Background()))
	}
	s.reg.MustRegister(natsx.NewStreamCollector(s.js, natsx.StreamBeacons, natsx.StreamControl, natsx.StreamDerived, natsx.StreamDLQ))
	profiles, err := natsx.ProfilesKV(ctx, s.js, s.cfg.Limits)
	if err != nil {
		return errors.Join(err, s.Shutdown(context.Background()))
	}
	api := &API{
		cfg: s.cfg, log: s.log,
		pub:        NewJetStreamPublisher(s.js, s.cfg.PublishTimeout),
		profiles:   profiles,
		schemas:    set,
		decoder:    beacon.NewDecoder(set).WithMaxSkew(s.cfg.MaxClockSkew, time.Now),
		m:          newMetrics(s.reg, s.cfg.MaxClusters),
		tracer:     s.tp.Tracer("github.com/rtt-dev/rtt/services/ingest"),
		now:        func() time.Time { return time.Now().UTC() },
		maxPayload: int(s.nc.MaxPayload()),
	}
	mux := http.NewServeMux()
	mux.Handle(BasePath+"/", api.Handler())
	mux.Handle("GET /metrics", promx.Handler(s.reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	s.listener, err = net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on %s: %w", s.cfg.Addr, err), s.Shutdown(context.Background()))
	}
	s.httpSrv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	s.served = make(chan error, 1)
	go func() { s.served <- s.httpSrv.Serve(s.listener) }()
	s.log.Info().Str("api", "http://"+s.Addr()+BasePath).Str("nats", url).Msg("ingest ready")
	return nil
}

// readyz answers 200 when NATS is connected and the beacon stream answers.
func (s *Service) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if !s.nc.IsConnected() {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "not connected to NATS", nil)
		return
	}
	if _, err := s.js.Stream(ctx, natsx.StreamBeacons); err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "stream "+natsx.StreamBeacons+": "+err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Addr is the HTTP listen address (useful when the configured port was 0).
func (s *Service) Addr() string { return s.listener.Addr().String() }

// NATSURL is the URL of the NATS server in use.
func (s *Service) NATSURL() string { return s.nc.ConnectedUrl() }

// Done is closed with the HTTP server's error if it stops by itself.
func (s *Service) Done() <-chan error { return s.served }

// Shutdown stops accepting HTTP, finishes requests in flight, drains the
// NATS connection and stops the embedded server. It is idempotent.
func (s *Service) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		var errs []error
		if s.httpSrv != nil {
			if err := s.httpSrv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("http shutdown: %w", err))
			}
		}
		if s.nc != nil {
			if err := s.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				errs = append(errs, fmt.Errorf("nats drain: %w", err))
			}
			for !s.nc.IsClosed() {
				select {
				case <-ctx.Done():
					s.nc.Close()
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
		if s.ns != nil {
			s.ns.Shutdown()
			s.ns.WaitForShutdown()
		}
		s.shutdownErr = errors.Join(errs...)
		s.log.Info().Msg("ingest stopped")
	})
	return s.shutdownErr
}
