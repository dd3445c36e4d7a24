package drift

import (
	"context"
	"errors"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/stage"
	"github.com/rtt-dev/rtt/pkg/svc"
)

// Service is the running drift service.
type Service struct {
	cfg  Config
	log  zerolog.Logger
	reg  *prometheus.Registry
	nc   *nats.Conn
	ops  *svc.Ops
	done chan error
	once sync.Once
}

// New returns a drift service; Start brings it up.
func New(cfg Config, log zerolog.Logger, reg *prometheus.Registry) *Service {
	return &Service{cfg: cfg, log: log, reg: reg, done: make(chan error, 1)}
}

// Start connects, creates the streams, the state bucket and the durable
// consumer "drift", and processes beacons until ctx ends.
func (s *Service) Start(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	var err error
	s.ops, err = svc.ServeOps(s.cfg.Addr, s.reg, func(context.Context) error {
		if s.nc == nil || !s.nc.IsConnected() {
			return errors.New("not connected to NATS")
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.nc, err = natsx.Connect(ctx, s.cfg.NATSURL, "rtt-drift", s.log)
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
	kv, err := natsx.StateKV(ctx, js, Bucket, s.cfg.Limits)
	if err != nil {
		return err
	}
	p := NewProcessor(s.cfg.Params, kv, "", s.cfg.MaxClusters, s.log, s.reg)
	st := stage.New("drift", Bucket, js, p, s.log, s.reg)
	go func() {
		s.done <- st.Consume(ctx, stage.ConsumerOptions{
			Durable: "drift", Stream: natsx.StreamBeacons, Filters: []string{natsx.SubjectBeacons},
			BatchSize: s.cfg.BatchSize, BatchAge: s.cfg.BatchAge, DrainTimeout: s.cfg.DrainTimeout,
		})
	}()
	s.log.Info().Str("nats", s.cfg.NATSURL).Float64("threshold", s.cfg.Params.Threshold).
		Int("confirm", s.cfg.Params.Confirm).Msg("drift ready")
	return nil
}

// Addr is the operations endpoint's address.
func (s *Service) Addr() string { return s.ops.Addr() }

// Done delivers the consumer's end: nil after a clean drain.
func (s *Service) Done() <-chan error { return s.done }

// Shutdown stops the operations endpoint and drains the connection. Call it
// after the consumer ended (Done). Idempotent.
func (s *Service) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		if s.ops != nil {
			err = s.ops.Shutdown(ctx)
		}
		if s.nc != nil {
			_ = s.nc.Drain()
		}
		s.log.Info().Msg("drift stopped")
	})
	return err
}
