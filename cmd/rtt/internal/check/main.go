package check

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/peterbourgon/ff/v3"

	"github.com/rtt-dev/rtt/pkg/client"
)

// EnvPrefix prefixes the environment variables of rtt check's flags:
// RTT_CHECK_SITE sets --site. --url-base and --token default to the
// client's RTT_URL and RTT_TOKEN.
const EnvPrefix = "RTT_CHECK"

// Exit codes of rtt check, besides 0 when every item passed.
const (
	// ExitFailed: at least one item failed.
	ExitFailed = 1
	// ExitUsage: bad flags; nothing was checked.
	ExitUsage = 2
)

// Error is a failure of rtt check; Code is the exit code it calls for.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// ExitCode is the exit code rtt ends with: ExitFailed or ExitUsage.
func (e *Error) ExitCode() int { return e.Code }

const usageHead = `Usage: rtt check [flags]

Runs the RTT-Inside verification checklist (guide section 8) against a
deployment and prints one line per item, PASS or FAIL with the reason:

  %-36s the base URL and token reach the API (GET /profile/SITE)
  %-36s a cluster_heartbeat is stored; its re-send is answered duplicate
  %-36s POST /profile/SITE, then GET returns the same profile
  %-36s --metrics exposes rtt_beacons_total, and it counted the heartbeat
  %-36s a topology_snapshot beacon with a topology and flows is stored
  %-36s /validate, /corridor, /topology answer ok, vst-beta/1, same bytes twice

The beacons and the profile go to --site, a site of the check's own: its
profile is replaced. Each item gives up after --timeout.

Exit codes: 0 every item passed, 1 some item failed, 2 usage error.

Environment: every flag can also be set as %s_<FLAG> (--site is
%s_SITE); --url-base and --token default to $RTT_URL and $RTT_TOKEN.

Examples:
  rtt check
  RTT_URL=https://rtt.example/api/rtt RTT_TOKEN=... rtt check \
    --metrics http://ingest-1:8080/metrics,http://ingest-2:8080/metrics

Flags (given as --name or -name):
`

// Main runs rtt check with args, printing the items to stdout. It returns
// an *Error with ExitFailed when an item failed, ExitUsage for bad flags,
// and flag.ErrHelp after -h printed the usage to stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("rtt check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.URL, "url-base", "", "rtt API base URL (default $RTT_URL, else "+client.DefaultBaseURL+")")
	fs.StringVar(&cfg.Token, "token", "", "bearer token (default $RTT_TOKEN)")
	fs.Func("metrics", "Prometheus endpoint(s) that count beacons, comma-separated or repeated (default /metrics on the API's host: http://127.0.0.1:8080/metrics)", func(v string) error {
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				cfg.Metrics = append(cfg.Metrics, u)
			}
		}
		return nil
	})
	fs.StringVar(&cfg.Site, "site", DefaultSite, "site of the check's beacons and profile")
	fs.DurationVar(&cfg.Timeout, "timeout", DefaultTimeout, "time limit of each item")
	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix(EnvPrefix)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, usageHead, ItemClient, ItemBeacons, ItemProfile, ItemObservability, ItemPayloads, ItemDiagnostics, EnvPrefix, EnvPrefix)
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return err
		}
		msg := strings.TrimPrefix(err.Error(), "error parsing commandline arguments: ")
		return &Error{Code: ExitUsage, Err: fmt.Errorf("%s (see 'rtt help check')", msg)}
	}
	switch {
	case fs.NArg() > 0:
		return &Error{Code: ExitUsage, Err: fmt.Errorf("unexpected arguments %q (see 'rtt help check')", fs.Args())}
	case cfg.Timeout <= 0:
		return &Error{Code: ExitUsage, Err: fmt.Errorf("--timeout: must be positive, got %v", cfg.Timeout)}
	case cfg.Site == "":
		return &Error{Code: ExitUsage, Err: errors.New("--site: must not be empty")}
	}
	from := "--url-base"
	if cfg.URL == "" {
		from = "RTT_URL"
	}
	if err := checkURL(client.New(cfg.URL).BaseURL()); err != nil {
		return &Error{Code: ExitUsage, Err: fmt.Errorf("%s: %w", from, err)}
	}
	for _, u := range cfg.Metrics {
		if err := checkURL(u); err != nil {
			return &Error{Code: ExitUsage, Err: fmt.Errorf("--metrics: %w", err)}
		}
	}
	results := Run(ctx, cfg, stdout)
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}
	if failed > 0 {
		return &Error{Code: ExitFailed, Err: fmt.Errorf("%d of %d checks failed", failed, len(results))}
	}
	fmt.Fprintf(stdout, "all %d checks passed\n", len(results))
	return nil
}

// checkURL rejects a URL no request could be sent to, so that a typo is a
// usage error rather than a list of failures.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL with a host", s)
	}
	return nil
}
