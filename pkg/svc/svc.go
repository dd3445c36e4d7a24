// Package svc is the shared start-up of rtt's binaries: flags that also read
// RTT_* environment variables, the logger, and signal handling around a
// run(ctx) function.
package svc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtt-dev/rtt/pkg/otelx"
	"github.com/rtt-dev/rtt/pkg/promx"
)

// LogConfig selects the log format and level.
type LogConfig struct {
	Format string // json or console
	Level  string // debug, info, warn, error
}

// Register adds -log-format and -log-level (RTT_LOG_FORMAT, RTT_LOG_LEVEL).
func (c *LogConfig) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Format, "log-format", "json", "log format: json or console")
	fs.StringVar(&c.Level, "log-level", "info", "log level: debug, info, warn or error")
}

// Logger builds the service's logger writing to w.
func (c LogConfig) Logger(w io.Writer, service string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(c.Level))
	if err != nil || c.Level == "" {
		return zerolog.Nop(), fmt.Errorf("log-level: unknown level %q (want debug, info, warn or error)", c.Level)
	}
	switch c.Format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	default:
		return zerolog.Nop(), fmt.Errorf("log-format: unknown format %q (want json or console)", c.Format)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service", service).Logger(), nil
}

// Parse parses args into fs; every flag can also be set by the environment
// variable RTT_<FLAG> (dashes become underscores, upper case). Flags win.
func Parse(fs *flag.FlagSet, args []string) error {
	return ff.Parse(fs, args, ff.WithEnvVarPrefix("RTT"))
}

// EnvName is the environment variable that sets flag name.
func EnvName(name string) string {
	return "RTT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Main runs a service: it cancels run's context on SIGINT or SIGTERM and
// exits non-zero when run fails. A second signal exits at once.
func Main(service string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal now kills the process
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		os.Exit(1)
	}
}

// Mask hides a secret for logging: empty stays empty, anything else is
// "*****".
func Mask(s string) string {
	if s == "" {
		return ""
	}
	return "*****"
}

// Env is what every rtt binary sets up before its service: the parsed
// configuration's logger, tracer provider and metrics registry.
type Env struct {
	Log      zerolog.Logger
	Tracer   trace.TracerProvider
	Registry *prometheus.Registry
	flush    func(context.Context) error
}

// Boot parses args into fs (flags and RTT_* variables), builds the logger
// described by lc and the tracer provider (exporting when OTEL_* asks).
func Boot(ctx context.Context, service string, fs *flag.FlagSet, args []string, lc *LogConfig, stderr io.Writer) (*Env, error) {
	if err := Parse(fs, args); err != nil {
		return nil, err
	}
	log, err := lc.Logger(stderr, service)
	if err != nil {
		return nil, err
	}
	tp, flush, err := otelx.Setup(ctx, service)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	return &Env{Log: log, Tracer: tp, Registry: promx.NewRegistry(), flush: flush}, nil
}

// Close flushes the spans not yet exported.
func (e *Env) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.flush(ctx)
}

// Service is a component with a lifecycle.
type Service interface {
	// Start brings the service up; it runs until ctx ends.
	Start(ctx context.Context) error
	// Done delivers an error if the service fails by itself.
	Done() <-chan error
	// Shutdown waits for the service to finish its work after ctx ended,
	// then releases its resources. Idempotent.
	Shutdown(ctx context.Context) error
}

// Run starts s, waits until ctx ends or s fails, then shuts it down within
// stopTimeout.
func Run(ctx context.Context, s Service, stopTimeout time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		cancel()
		return errors.Join(err, s.Shutdown(context.Background()))
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-s.Done():
	}
	cancel()
	sctx, stop := context.WithTimeout(context.Background(), stopTimeout)
	defer stop()
	return errors.Join(err, s.Shutdown(sctx))
}

// SetMemoryLimit sets the Go runtime's soft memory limit to limit bytes
// unless it is 0 or the GOMEMLIMIT environment variable already set one,
// and logs the limit in effect.
func SetMemoryLimit(limit int64, log zerolog.Logger) {
	if os.Getenv("GOMEMLIMIT") == "" && limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	if eff := debug.SetMemoryLimit(-1); eff != math.MaxInt64 {
		log.Info().Int64("bytes", eff).Msg("soft memory limit")
	}
}
