package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3"
)

// EnvPrefix prefixes the environment variables of loadgen's flags:
// RTT_LOADGEN_RATE sets -rate. A prefix of their own keeps them apart from
// the services' RTT_* variables. -url and -token, when empty, fall back to
// the client's RTT_URL and RTT_TOKEN.
const EnvPrefix = "RTT_LOADGEN"

// Config is a load generator run. Zero fields take the defaults of
// Register; Validate names the first unusable one.
type Config struct {
	// URL is the API base URL; empty means RTT_URL, else the client's
	// default http://127.0.0.1:8080/api/rtt.
	URL string
	// Token is the bearer token; empty means RTT_TOKEN.
	Token string
	// Sites is how many datacenters are simulated (dc-00, dc-01 ...).
	Sites int
	// Rate is the total beacons per second; 0 or less sends as fast as the
	// server takes them.
	Rate float64
	// Duration stops the run after this long (on the wall clock or the
	// timeline, whichever is first); 0 runs until ctx ends or Count.
	Duration time.Duration
	// Count stops the run after this many beacons; 0 means no limit.
	Count int
	// Batch is how many beacons go into one POST /beacons.
	Batch int
	// Concurrency is how many POSTs may be in flight at once.
	Concurrency int
	// HeartbeatEvery is each site's heartbeat period. Topology snapshots
	// come every 6 heartbeats, deployments every 10 on average.
	HeartbeatEvery time.Duration
	// ChangeEvery injects a structural change on a random site at every
	// multiple of it on the timeline; 0 never.
	ChangeEvery time.Duration
	// ChangeSites get one structural change each, at ChangeAt.
	ChangeSites []string
	// ChangeAt is when ChangeSites change, from the start of the timeline.
	ChangeAt time.Duration
	// Seed makes the run reproducible: the same settings, seed and Start
	// give the same beacons.
	Seed int64
	// Start is the ts of the first beacon; zero means the time Run starts.
	// Set it to reproduce a run byte for byte.
	Start time.Time
}

// Defaults of Config (and of the flags).
const (
	DefaultSites          = 20
	DefaultRate           = 200
	DefaultBatch          = 50
	DefaultConcurrency    = 4
	DefaultHeartbeatEvery = 5 * time.Second
	DefaultChangeEvery    = 2 * time.Minute
	DefaultChangeAt       = 30 * time.Second
	DefaultSeed           = 1
)

// unpacedStep is the timeline step of a run without a rate: as if beacons
// came at 100,000 per second.
const unpacedStep = 10 * time.Microsecond

// Register adds the run's flags to fs with their defaults.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "url", "", "rtt API base URL (empty: $RTT_URL, else http://127.0.0.1:8080/api/rtt)")
	fs.StringVar(&c.Token, "token", "", "bearer token (empty: $RTT_TOKEN)")
	fs.IntVar(&c.Sites, "sites", DefaultSites, "simulated datacenters, named dc-00, dc-01 ...")
	fs.Float64Var(&c.Rate, "rate", DefaultRate, "beacons per second in total (0: as fast as the server takes them)")
	fs.DurationVar(&c.Duration, "duration", 0, "stop after this long (0: until Ctrl-C or -count)")
	fs.IntVar(&c.Count, "count", 0, "stop after this many beacons (0: no limit)")
	fs.IntVar(&c.Batch, "batch", DefaultBatch, "beacons per POST /beacons")
	fs.IntVar(&c.Concurrency, "concurrency", DefaultConcurrency, "POST /beacons requests in flight at once")
	fs.DurationVar(&c.HeartbeatEvery, "heartbeat-every", DefaultHeartbeatEvery, "heartbeat period of each site; snapshots every 6, deployments every 10 on average")
	fs.DurationVar(&c.ChangeEvery, "change-every", DefaultChangeEvery, "inject a structural change on a random site this often (0: never)")
	fs.Func("change-sites", "comma-separated sites to change once each, at -change-at (e.g. dc-03,dc-07)", func(v string) error {
		c.ChangeSites = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.ChangeSites = append(c.ChangeSites, s)
			}
		}
		return nil
	})
	fs.DurationVar(&c.ChangeAt, "change-at", DefaultChangeAt, "when the -change-sites change, from the start")
	fs.Int64Var(&c.Seed, "seed", DefaultSeed, "random seed; the same seed gives the same sites and beacon mix")
}

// withDefaults fills the zero fields that have a default other than zero.
func (c Config) withDefaults() Config {
	if c.Sites == 0 {
		c.Sites = DefaultSites
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.HeartbeatEvery == 0 {
		c.HeartbeatEvery = DefaultHeartbeatEvery
	}
	return c
}

// Validate reports the first unusable setting, naming its flag.
func (c Config) Validate() error {
	switch {
	case c.Sites < 1 || c.Sites > 100000:
		return fmt.Errorf("sites: must be between 1 and 100000, got %d", c.Sites)
	case c.Rate > 1e6:
		return fmt.Errorf("rate: must be at most 1000000 beacons per second, got %g", c.Rate)
	case c.Duration < 0:
		return errors.New("duration: must not be negative")
	case c.Count < 0:
		return errors.New("count: must not be negative")
	case c.Batch < 1 || c.Batch > 10000:
		return fmt.Errorf("batch: must be between 1 and 10000 (the server's default limit), got %d", c.Batch)
	case c.Concurrency < 1:
		return errors.New("concurrency: must be at least 1")
	case c.HeartbeatEvery < time.Millisecond:
		return errors.New("heartbeat-every: must be at least 1ms")
	case c.ChangeEvery < 0:
		return errors.New("change-every: must not be negative")
	case c.ChangeAt < 0:
		return errors.New("change-at: must not be negative")
	}
	for _, s := range c.ChangeSites {
		if !c.hasSite(s) {
			return fmt.Errorf("change-sites: no site %q among %s ... %s", s, SiteName(0, c.Sites), SiteName(c.Sites-1, c.Sites))
		}
	}
	return nil
}

func (c Config) hasSite(name string) bool {
	for i := range c.Sites {
		if SiteName(i, c.Sites) == name {
			return true
		}
	}
	return false
}

// step is the timeline distance between two beacons.
func (c Config) step() time.Duration {
	if c.Rate <= 0 {
		return unpacedStep
	}
	return max(time.Duration(float64(time.Second)/c.Rate), 1)
}

// Main runs the load generator as a command (`rtt loadgen`): it parses args
// with a flag set named "loadgen" (each flag also read from RTT_LOADGEN_<FLAG>,
// see EnvPrefix), runs until -count, -duration or ctx ends, shows a live
// progress line on stderr and writes the injected changes and the totals to
// stdout. A stop by ctx (Ctrl-C) is a normal end, not an error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.Register(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: rtt loadgen [flags]\n\n"+
			"Simulates datacenters sending beacons to rtt's HTTP API. Every flag can also be\n"+
			"set as %s_<FLAG> (upper case, dashes as underscores); -url and -token\n"+
			"default to $RTT_URL and $RTT_TOKEN.\n\n", EnvPrefix)
		fs.PrintDefaults()
	}
	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix(EnvPrefix)); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := cfg.Validate(); err != nil { // before Run's defaults: -sites 0 is a mistake
		return err
	}
	stats, err := Run(ctx, cfg, stderr)
	for _, ch := range stats.Changes {
		fmt.Fprintln(stdout, "injected change:", ch)
	}
	fmt.Fprintln(stdout, stats.Summary())
	return err
}
