// Package otelx sets up OpenTelemetry tracing for rtt's services and
// carries W3C trace context in NATS headers, so one trace follows a beacon
// from the ingest request through drift, corridor and the sink.
//
// Spans are always created, so every stored row has a trace id to link to;
// they are exported only when the standard OTEL_* variables ask for it
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or
// OTEL_TRACES_EXPORTER=otlp), over OTLP/HTTP.
package otelx

import (
	"context"
	"os"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Propagator is the W3C trace-context propagator rtt uses everywhere.
var Propagator = propagation.TraceContext{}

// Enabled reports whether the environment asks for span export.
func Enabled() bool {
	switch os.Getenv("OTEL_TRACES_EXPORTER") {
	case "none":
		return false
	case "otlp":
		return true
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup returns the service's tracer provider: exporting over OTLP/HTTP
// when Enabled, else recording ids only. Call shutdown on exit to flush.
func Setup(ctx context.Context, service string) (tp *sdktrace.TracerProvider, shutdown func(context.Context) error, err error) {
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "rtt-"+service))),
	}
	if Enabled() {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	tp = sdktrace.NewTracerProvider(opts...)
	return tp, tp.Shutdown, nil
}

// headerCarrier adapts NATS headers, whose keys are case-sensitive, to the
// propagator: W3C names stay lower case ("traceparent"), as other NATS
// clients expect.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string { return nats.Header(c).Get(key) }
func (c headerCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }
func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes ctx's trace context into h.
func Inject(ctx context.Context, h nats.Header) {
	Propagator.Inject(ctx, headerCarrier(h))
}

// Extract returns ctx carrying the trace context of h, if any.
func Extract(ctx context.Context, h nats.Header) context.Context {
	return Propagator.Extract(ctx, headerCarrier(h))
}

// TraceID is the hex trace id of ctx's span, or "".
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}
