package ingest

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/svc"
)

// Config is the ingest service's configuration. Every field has a flag and
// an RTT_* environment variable (see Register).
type Config struct {
	Addr           string
	DataDir        string
	NATSURL        string
	NATSHost       string
	NATSPort       int
	NATSMaxStore   int64
	Token          string
	MaxBodyBytes   int64
	MaxBatchBytes  int64
	MaxBatchItems  int
	PublishTimeout time.Duration
	PublishWindow  int
	MaxClusters    int
	MaxClockSkew   time.Duration
	MemoryLimit    int64
	Limits         natsx.Limits
	Log            svc.LogConfig
}

// Register adds the configuration's flags to fs, with their defaults.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "HTTP listen address of the API")
	fs.StringVar(&c.DataDir, "data-dir", ".data", "data folder; the embedded NATS server stores JetStream under DATA_DIR/nats")
	fs.StringVar(&c.NATSURL, "nats-url", "", "external NATS URL; empty starts an embedded NATS server")
	fs.StringVar(&c.NATSHost, "nats-host", "127.0.0.1", "listen host of the embedded NATS server")
	fs.IntVar(&c.NATSPort, "nats-port", 4222, "client port of the embedded NATS server (-1: any free port)")
	fs.Int64Var(&c.NATSMaxStore, "nats-max-store", 0, "JetStream storage limit of the embedded server in bytes (0: server default)")
	fs.StringVar(&c.Token, "token", "", "bearer token clients must send; empty accepts any client")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 1<<20, "largest request body of single-item endpoints (413 beyond)")
	fs.Int64Var(&c.MaxBatchBytes, "max-batch-bytes", 16<<20, "largest body of POST /beacons (413 beyond)")
	fs.IntVar(&c.MaxBatchItems, "max-batch-items", 10000, "most beacons in one POST /beacons")
	fs.DurationVar(&c.PublishTimeout, "publish-timeout", 5*time.Second, "how long to wait for JetStream's acknowledgement before answering 503")
	fs.IntVar(&c.PublishWindow, "publish-window", 4096, "most unacknowledged asynchronous publishes in flight")
	fs.DurationVar(&c.MaxClockSkew, "max-clock-skew", time.Hour, "reject beacons whose ts is further ahead of the server's clock (0: no bound)")
	fs.IntVar(&c.MaxClusters, "metrics-max-clusters", 1000, "distinct cluster label values in metrics before they fold into __overflow__")
	fs.Int64Var(&c.MemoryLimit, "memory-limit", DefaultMemoryLimit, "soft memory limit of the process in bytes, the embedded NATS server's included (0: none; GOMEMLIMIT, when set, wins)")
	c.Limits.Register(fs)
	c.Log.Register(fs)
}

// Validate reports the first unusable setting, naming its flag.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("addr: must not be empty")
	case c.NATSURL == "" && c.DataDir == "":
		return errors.New("data-dir: needed for the embedded NATS server (or set nats-url)")
	case c.MaxBodyBytes < 1024:
		return errors.New("max-body-bytes: must be at least 1024")
	case c.MaxBatchBytes < c.MaxBodyBytes:
		return errors.New("max-batch-bytes: must be at least max-body-bytes")
	case c.MaxBatchItems < 1:
		return errors.New("max-batch-items: must be at least 1")
	case c.PublishTimeout <= 0:
		return errors.New("publish-timeout: must be positive")
	case c.PublishWindow < 1:
		return errors.New("publish-window: must be at least 1")
	case c.MaxClockSkew < 0:
		return errors.New("max-clock-skew: must not be negative")
	case c.MaxClusters < 1:
		return errors.New("metrics-max-clusters: must be at least 1")
	case c.MemoryLimit != 0 && c.MemoryLimit < 32<<20:
		return errors.New("memory-limit: must be 0 (none) or at least 33554432 (32 MiB)")
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	return nil
}

// DefaultMemoryLimit is ingest's soft memory limit: the embedded NATS server
// keeps recently written and read message blocks (8 MiB each) in buffers it
// pools, which the Go runtime otherwise lets grow to twice the live heap.
const DefaultMemoryLimit = 200 << 20

// NATSDir is where the embedded server keeps JetStream.
func (c Config) NATSDir() string { return filepath.Join(c.DataDir, "nats") }

// LogEffective logs the configuration once, secrets masked.
func (c Config) LogEffective(log zerolog.Logger) {
	nats := c.NATSURL
	if nats == "" {
		nats = fmt.Sprintf("embedded %s:%d in %s", c.NATSHost, c.NATSPort, c.NATSDir())
	}
	log.Info().
		Str("addr", c.Addr).Str("nats", nats).Str("token", svc.Mask(c.Token)).
		Int64("max_body_bytes", c.MaxBodyBytes).Int64("max_batch_bytes", c.MaxBatchBytes).
		Int("max_batch_items", c.MaxBatchItems).Dur("publish_timeout", c.PublishTimeout).
		Dur("beacon_retention", c.Limits.BeaconMaxAge).Int64("beacon_max_bytes", c.Limits.BeaconMaxBytes).
		Dur("dedup_window", c.Limits.Duplicates).Int64("memory_limit", c.MemoryLimit).
		Msg("configuration")
}
