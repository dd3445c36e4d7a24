package corridor

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/stage"
)

// New returns the corridor service: the durable consumer "corridor" over
// every beacon (those without flows are acknowledged at once), following
// the profiles bucket for corridors, its scores in Bucket. It validates cfg.
func New(cfg Config, log zerolog.Logger, reg *prometheus.Registry, tp trace.TracerProvider) (*stage.Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return stage.NewService(stage.ServiceOptions{
		Name: "corridor", Addr: cfg.Addr, NATSURL: cfg.NATSURL, Bucket: Bucket, Limits: cfg.Limits, Tracer: tp,
		Consumer: stage.ConsumerOptions{
			Durable: "corridor", Stream: natsx.StreamBeacons,
			BatchSize: cfg.BatchSize, BatchAge: cfg.BatchAge, DrainTimeout: cfg.DrainTimeout,
		},
		Build: func(ctx context.Context, js jetstream.JetStream, state jetstream.KeyValue) (stage.Processor, error) {
			profiles, err := natsx.ProfilesKV(ctx, js, cfg.Limits)
			if err != nil {
				return nil, err
			}
			watched, err := WatchProfiles(ctx, profiles, log)
			if err != nil {
				return nil, err
			}
			return NewProcessor(watched, cfg.Alpha, state, "", log, reg), nil
		},
	}, log, reg), nil
}
