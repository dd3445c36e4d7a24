package otelx_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/rtt-dev/rtt/pkg/otelx"
)

func TestInjectExtractRoundTripLowerCase(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "s")
	defer span.End()
	h := nats.Header{}
	otelx.Inject(ctx, h)
	if len(h.Get("traceparent")) != 55 {
		t.Fatalf("traceparent %q in %v", h.Get("traceparent"), h)
	}
	got := otelx.TraceID(otelx.Extract(context.Background(), h))
	if got == "" || got != span.SpanContext().TraceID().String() {
		t.Fatalf("extracted %q, want %s", got, span.SpanContext().TraceID())
	}
	if otelx.TraceID(otelx.Extract(context.Background(), nats.Header{})) != "" {
		t.Fatal("trace id from empty headers")
	}
}
