package stage

import (
	"context"
	"errors"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/svc"
)

// ServiceOptions describe a stage service: where it listens and connects,
// where it keeps its state, what it consumes and how its processor is
// built.
type ServiceOptions struct {
	Name     string // stage name: NATS client name rtt-<Name>, dead letters rtt.dlq.<Name>
	Addr     string // operations endpoint
	NATSURL  string
	Bucket   string // KV bucket of the stage's state
	Limits   natsx.Limits
	Consumer ConsumerOptions
	Tracer   trace.TracerProvider // nil: spans give ids only
	// Build makes the processor once JetStream and the state bucket exist.
	Build func(ctx context.Context, js jetstream.JetStream, state jetstream.KeyValue) (Processor, error)
}

// Service runs one stage as a service: operations endpoint, connection,
// streams, state bucket and the durable consumer.
type Service struct {
	o        ServiceOptions
	log      zerolog.Logger
	reg      *prometheus.Registry
	nc       *nats.Conn
	ops      *svc.Ops
	done     chan error
	finished chan struct{}
	started  bool
	once     sync.Once
}

// NewService returns a stage service; Start brings it up.
func NewService(o ServiceOptions, log zerolog.Logger, reg *prometheus.Registry) *Service {
	return &Service{o: o, log: log, reg: reg, done: make(chan error, 1), finished: make(chan struct{})}
}

// Start serves /metrics, /healthz and /readyz, connects, creates the
// streams, the state bucket and the durable consumer, and processes until
// ctx ends (then drains; Done reports the end).
func (s *Service) Start(ctx context.Context) error {
	var err error
	s.ops, err = svc.ServeOps(s.o.Addr, s.reg, func(context.Context) error {
		if s.nc == nil || !s.nc.IsConnected() {
			return errors.New("not connected to NATS")
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.nc, err = natsx.Connect(ctx, s.o.NATSURL, "rtt-"+s.o.Name, s.log)
	if err != nil {
		return err
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return err
	}
	if err := natsx.EnsureStreams(ctx, js, s.o.Limits); err != nil {
		return err
	}
	kv, err := natsx.StateKV(ctx, js, s.o.Bucket, s.o.Limits)
	if err != nil {
		return err
	}
	p, err := s.o.Build(ctx, js, kv)
	if err != nil {
		return err
	}
	tp := s.o.Tracer
	if tp == nil {
		tp = sdktrace.NewTracerProvider()
	}
	st := New(s.o.Name, s.o.Bucket, js, p, s.log, s.reg, tp)
	s.started = true
	go func() {
		defer close(s.finished)
		if err := st.Consume(ctx, s.o.Consumer); err != nil {
			s.done <- err
		}
	}()
	s.log.Info().Str("ops", s.ops.Addr()).Str("nats", s.o.NATSURL).Str("consumer", s.o.Consumer.Durable).Msg(s.o.Name + " ready")
	return nil
}

// Addr is the operations endpoint's address.
func (s *Service) Addr() string { return s.ops.Addr() }

// Done delivers an error if the consumer fails by itself.
func (s *Service) Done() <-chan error { return s.done }

// Shutdown waits (bounded by ctx) for the consumer, which drains once
// Start's ctx ended, then stops the operations endpoint and drains the
// connection. Idempotent.
func (s *Service) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		if s.started {
			select {
			case <-s.finished:
			case <-ctx.Done():
				err = errors.New(s.o.Name + ": consumer did not stop in time")
			}
		}
		if s.ops != nil {
			err = errors.Join(err, s.ops.Shutdown(ctx))
		}
		if s.nc != nil {
			_ = s.nc.Drain()
		}
		s.log.Info().Msg(s.o.Name + " stopped")
	})
	return err
}
