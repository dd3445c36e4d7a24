package stack

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Defaults of the local stack. Each is also a flag and an RTT_* environment
// variable (see Config.Register).
const (
	DefaultDataDir        = ".data"
	DefaultBinDir         = "bin"
	DefaultAddr           = "127.0.0.1:8080"
	DefaultNATSPort       = 4222
	DefaultDriftAddr      = "127.0.0.1:8081"
	DefaultCorridorAddr   = "127.0.0.1:8082"
	DefaultSinkAddr       = "127.0.0.1:8083"
	DefaultClickHousePort = 9000
	DefaultClickHouseHTTP = 8123
	DefaultDatabase       = "rtt"
	DefaultReadyTimeout   = 60 * time.Second
	DefaultStopTimeout    = 30 * time.Second
)

// APIPath is the base path of ingest's HTTP API.
const APIPath = "/api/rtt"

// ClickHouseConfig says where the private ClickHouse keeps its data and
// listens. "rtt dev" and "rtt clickhouse" share it.
type ClickHouseConfig struct {
	// DataDir is rtt's data folder; the server lives in DataDir/clickhouse.
	DataDir string
	// TCPPort is the native-protocol port, HTTPPort the HTTP one; both
	// listen on 127.0.0.1.
	TCPPort, HTTPPort int
}

// Register adds -data-dir, -clickhouse-port and -clickhouse-http-port.
func (c *ClickHouseConfig) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", DefaultDataDir, "data folder: ClickHouse in DATA_DIR/clickhouse, NATS in DATA_DIR/nats, pid, ready marker and logs in DATA_DIR/run")
	fs.IntVar(&c.TCPPort, "clickhouse-port", DefaultClickHousePort, "native-protocol port of the private ClickHouse")
	fs.IntVar(&c.HTTPPort, "clickhouse-http-port", DefaultClickHouseHTTP, "HTTP port of the private ClickHouse")
}

// Validate reports the first unusable setting, naming its flag.
func (c ClickHouseConfig) Validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("data-dir: must not be empty")
	case !validPort(c.TCPPort):
		return fmt.Errorf("clickhouse-port: %d is not a port (1-65535)", c.TCPPort)
	case !validPort(c.HTTPPort):
		return fmt.Errorf("clickhouse-http-port: %d is not a port (1-65535)", c.HTTPPort)
	case c.TCPPort == c.HTTPPort:
		return errors.New("clickhouse-http-port: must differ from clickhouse-port")
	}
	return nil
}

// Config is the configuration of "rtt dev". Flags take the services' own
// names, so that one RTT_* variable sets both rtt and the service (RTT_ADDR
// is ingest's -addr for both).
type Config struct {
	ClickHouse ClickHouseConfig
	// BinDir holds the service binaries ingest, drift, corridor and sink.
	BinDir string
	// Addr is ingest's HTTP address; NATSPort the port of its embedded NATS.
	Addr     string
	NATSPort int
	// DriftAddr, CorridorAddr and SinkAddr serve those services' /metrics,
	// /healthz and /readyz.
	DriftAddr, CorridorAddr, SinkAddr string
	// Database is the ClickHouse database the sink writes to.
	Database string
	// Demo runs the load generator against the API once all is ready.
	Demo bool
	// ReadyTimeout bounds each start-up step's wait for /readyz.
	ReadyTimeout time.Duration
	// StopTimeout is each child's grace period between SIGTERM and SIGKILL.
	StopTimeout time.Duration
	// LogFormat and LogLevel are passed to every service.
	LogFormat, LogLevel string
}

// Register adds the flags of "rtt dev" to fs, with their defaults.
func (c *Config) Register(fs *flag.FlagSet) {
	c.ClickHouse.Register(fs)
	fs.StringVar(&c.BinDir, "bin-dir", DefaultBinDir, "folder with the service binaries (make build)")
	fs.StringVar(&c.Addr, "addr", DefaultAddr, "ingest: HTTP address of the API")
	fs.IntVar(&c.NATSPort, "nats-port", DefaultNATSPort, "ingest: client port of the embedded NATS server")
	fs.StringVar(&c.DriftAddr, "drift-addr", DefaultDriftAddr, "drift: HTTP address of /metrics, /healthz, /readyz")
	fs.StringVar(&c.CorridorAddr, "corridor-addr", DefaultCorridorAddr, "corridor: HTTP address of /metrics, /healthz, /readyz")
	fs.StringVar(&c.SinkAddr, "sink-addr", DefaultSinkAddr, "sink: HTTP address of /metrics, /healthz, /readyz")
	fs.StringVar(&c.Database, "clickhouse-database", DefaultDatabase, "sink: ClickHouse database")
	fs.BoolVar(&c.Demo, "demo", false, "also run the load generator against the API once everything is ready")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", DefaultReadyTimeout, "how long each start-up step may take to answer /readyz")
	fs.DurationVar(&c.StopTimeout, "stop-timeout", DefaultStopTimeout, "how long each service may take to exit after SIGTERM before it is killed")
	fs.StringVar(&c.LogFormat, "log-format", "console", "log format of the services: console or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level of the services: debug, info, warn or error")
}

// Validate reports the first unusable setting, naming its flag.
func (c Config) Validate() error {
	if err := c.ClickHouse.Validate(); err != nil {
		return err
	}
	switch {
	case c.BinDir == "":
		return errors.New("bin-dir: must not be empty")
	case !validPort(c.NATSPort):
		return fmt.Errorf("nats-port: %d is not a port (1-65535)", c.NATSPort)
	case c.Database == "":
		return errors.New("clickhouse-database: must not be empty")
	case c.ReadyTimeout <= 0:
		return errors.New("ready-timeout: must be positive")
	case c.StopTimeout <= 0:
		return errors.New("stop-timeout: must be positive")
	case c.LogFormat != "console" && c.LogFormat != "json":
		return fmt.Errorf("log-format: unknown format %q (want console or json)", c.LogFormat)
	}
	seen := map[string]string{}
	for _, l := range c.listeners() {
		_, port, err := net.SplitHostPort(l.addr)
		if p, perr := strconv.Atoi(port); err != nil || perr != nil || !validPort(p) {
			return fmt.Errorf("%s: %q is not host:port with a port of 1-65535", l.flag, l.addr)
		}
		if prev, ok := seen[port]; ok {
			return fmt.Errorf("%s: port %s is also %s's", l.flag, port, prev)
		}
		seen[port] = l.flag
	}
	return nil
}

// listener is an address one of the stack's servers will listen on.
type listener struct{ flag, addr string }

// listeners returns every address the stack listens on, for the checks
// before starting.
func (c Config) listeners() []listener {
	return []listener{
		{"clickhouse-port", loopback(c.ClickHouse.TCPPort)},
		{"clickhouse-http-port", loopback(c.ClickHouse.HTTPPort)},
		{"addr", c.Addr},
		{"nats-port", loopback(c.NATSPort)},
		{"drift-addr", c.DriftAddr},
		{"corridor-addr", c.CorridorAddr},
		{"sink-addr", c.SinkAddr},
	}
}

func validPort(p int) bool { return p > 0 && p < 65536 }

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// dialAddr turns a listen address into one to connect to: an empty or
// wildcard host becomes 127.0.0.1.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
