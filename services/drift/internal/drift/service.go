package drift

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/stage"
)

// New returns the drift service: the durable consumer "drift" over every
// beacon, its state in Bucket. It validates cfg.
func New(cfg Config, log zerolog.Logger, reg *prometheus.Registry, tp trace.TracerProvider) (*stage.Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return stage.NewService(stage.ServiceOptions{
		Name: "drift", Addr: cfg.Addr, NATSURL: cfg.NATSURL, Bucket: Bucket, Limits: cfg.Limits, Tracer: tp,
		Consumer: stage.ConsumerOptions{
			Durable: "drift", Stream: natsx.StreamBeacons,
			BatchSize: cfg.BatchSize, BatchAge: cfg.BatchAge, DrainTimeout: cfg.DrainTimeout,
		},
		Build: func(_ context.Context, _ jetstream.JetStream, state jetstream.KeyValue) (stage.Processor, error) {
			return NewProcessor(cfg.Params, state, "", cfg.MaxClusters, log, reg), nil
		},
	}, log, reg), nil
}
