package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/rtt-dev/rtt/pkg/client"
)

// Defaults of Config.
const (
	// DefaultSite is the site the check's beacons and profile are for.
	DefaultSite = "rtt-check"
	// DefaultTimeout bounds each item of the checklist.
	DefaultTimeout = 3 * time.Second
	// DiagVersion is the version every diagnostics answer must carry.
	DiagVersion = "vst-beta/1"
)

// The items of the checklist, in the guide's order (section 8).
const (
	ItemClient        = "RTTClient configured"
	ItemBeacons       = "cluster-level beacons accepted"
	ItemProfile       = "profile registered"
	ItemObservability = "observability receives RTT signals"
	ItemPayloads      = "topology and flow payloads accepted"
	ItemDiagnostics   = "diagnostics answer stably"
)

// Config is one run of the checklist.
type Config struct {
	// URL is the API base URL; empty means RTT_URL, else the client's
	// default http://127.0.0.1:8080/api/rtt.
	URL string
	// Token is the bearer token; empty means RTT_TOKEN.
	Token string
	// Metrics are the Prometheus endpoints that should count the check's
	// beacon; empty means /metrics on the API's host.
	Metrics []string
	// Site gets the check's beacons and profile (its profile is replaced),
	// DefaultSite when empty.
	Site string
	// Timeout bounds each item, DefaultTimeout when zero.
	Timeout time.Duration
}

// Result is the outcome of one item.
type Result struct {
	Item string
	OK   bool
	// Detail is what was seen when OK, else why the item failed.
	Detail  string
	Elapsed time.Duration
}

// String is the item's line: "PASS  item: detail [elapsed]".
func (r Result) String() string {
	verdict := "PASS"
	if !r.OK {
		verdict = "FAIL"
	}
	detail := strings.Join(strings.Fields(strings.ReplaceAll(r.Detail, "\n", "; ")), " ")
	return fmt.Sprintf("%s  %s: %s [%s]", verdict, r.Item, detail, r.Elapsed.Round(time.Millisecond))
}

// MetricsURL is the default metrics endpoint for an API base URL: /metrics
// on its host, where ingest serves it.
func MetricsURL(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + "/metrics"
}

// guideStructure is the structure of the guide's cluster heartbeat.
var guideStructure = client.Structure{URL: "internal://cluster", Title: "Cluster State"}

// checker is the state one run carries from item to item.
type checker struct {
	cfg     Config
	c       *client.Client
	hc      *http.Client
	out     io.Writer
	results []Result

	apiOK   bool        // the API answered the first item
	before  beaconCount // rtt_beacons_total before the check's beacon
	scraped error       // why the scrape before the beacon failed
	stored  bool        // the check's heartbeat was stored (not a duplicate)
	session string
	ts      time.Time
}

// Run runs the checklist against the API and metrics cfg names, writing one
// line per item to out as it finishes, and returns the results. Every item
// is bounded by cfg.Timeout; items that need the API are not tried (and
// fail) when it did not answer the first.
func Run(ctx context.Context, cfg Config, out io.Writer) []Result {
	if cfg.Site == "" {
		cfg.Site = DefaultSite
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	opts := []client.Option{client.WithTimeout(cfg.Timeout), client.WithRetry(3, 50*time.Millisecond)}
	if cfg.Token != "" {
		opts = append(opts, client.WithToken(cfg.Token))
	}
	ch := &checker{cfg: cfg, c: client.New(cfg.URL, opts...), hc: &http.Client{}, out: out}
	if len(ch.cfg.Metrics) == 0 {
		ch.cfg.Metrics = []string{MetricsURL(ch.c.BaseURL())}
	}
	ch.ts = time.Now().UTC().Truncate(time.Millisecond)
	ch.session = "rtt-check-" + strconv.FormatInt(ch.ts.Unix(), 10)

	ch.apiOK = ch.item(ctx, ItemClient, ch.checkClient)
	if ch.apiOK {
		// The counter before the check's beacon, for the observability item.
		sctx, cancel := context.WithTimeout(ctx, ch.cfg.Timeout)
		ch.before, ch.scraped = scrapeBeacons(sctx, ch.hc, ch.cfg.Metrics, ch.cfg.Site)
		cancel()
	}
	ch.apiItem(ctx, ItemBeacons, ch.checkBeacons)
	ch.apiItem(ctx, ItemProfile, ch.checkProfile)
	ch.item(ctx, ItemObservability, ch.checkObservability)
	ch.apiItem(ctx, ItemPayloads, ch.checkPayloads)
	ch.apiItem(ctx, ItemDiagnostics, ch.checkDiagnostics)
	return ch.results
}

// item runs one check within the timeout, records and prints its result.
func (ch *checker) item(ctx context.Context, name string, fn func(context.Context) (string, error)) bool {
	ctx, cancel := context.WithTimeout(ctx, ch.cfg.Timeout)
	defer cancel()
	start := time.Now()
	detail, err := fn(ctx)
	r := Result{Item: name, OK: err == nil, Detail: detail, Elapsed: time.Since(start)}
	if err != nil {
		r.Detail = err.Error()
	}
	ch.results = append(ch.results, r)
	fmt.Fprintln(ch.out, r)
	return r.OK
}

// apiItem is an item that needs the API: when the API did not answer the
// first item it fails without trying.
func (ch *checker) apiItem(ctx context.Context, name string, fn func(context.Context) (string, error)) bool {
	if !ch.apiOK {
		return ch.item(ctx, name, func(context.Context) (string, error) {
			return "", fmt.Errorf("not tried: %s failed", ItemClient)
		})
	}
	return ch.item(ctx, name, fn)
}

// explain adds what to do to the errors a misconfigured client gets.
func (ch *checker) explain(err error) error {
	var apiErr *client.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Is(client.ErrUnauthorized):
		return fmt.Errorf("%w (give the server's token with --token or RTT_TOKEN)", err)
	case errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusNotFound || apiErr.StatusCode == http.StatusMethodNotAllowed):
		return fmt.Errorf("%w (is %s the API's base URL, like %s? set --url-base or RTT_URL)", err, ch.c.BaseURL(), client.DefaultBaseURL)
	}
	return err
}

// checkClient: the client's base URL and token reach the API.
func (ch *checker) checkClient(ctx context.Context) (string, error) {
	from := "the default"
	switch {
	case ch.cfg.URL != "":
		from = "--url-base"
	case os.Getenv("RTT_URL") != "":
		from = "RTT_URL"
	}
	token := "no token"
	switch {
	case ch.cfg.Token != "":
		token = "token from --token"
	case os.Getenv("RTT_TOKEN") != "":
		token = "token from RTT_TOKEN"
	}
	if _, err := ch.c.GetProfile(ctx, ch.cfg.Site); err != nil {
		return "", fmt.Errorf("%s (from %s, %s) does not answer: %w", ch.c.BaseURL(), from, token, ch.explain(err))
	}
	return fmt.Sprintf("%s (from %s, %s) answers GET /profile/%s", ch.c.BaseURL(), from, token, ch.cfg.Site), nil
}

// checkBeacons: a cluster heartbeat is stored, and its re-send is
// recognised as a duplicate (idempotent delivery).
func (ch *checker) checkBeacons(ctx context.Context) (string, error) {
	b := client.Beacon{
		Site: ch.cfg.Site, Session: ch.session, Event: "cluster_heartbeat", TS: ch.ts,
		Structure: guideStructure,
	}
	first, err := ch.c.Beacon(ctx, b)
	if err != nil {
		return "", fmt.Errorf("cluster_heartbeat not stored: %w", ch.explain(err))
	}
	if first.Duplicate {
		return "", fmt.Errorf("a new cluster_heartbeat (%s) was answered duplicate: the server already held its event id", first.EventID)
	}
	ch.stored = true
	again, err := ch.c.Beacon(ctx, b)
	switch {
	case err != nil:
		return "", fmt.Errorf("cluster_heartbeat %s stored, but its re-send failed: %w", first.EventID, err)
	case again.EventID != first.EventID:
		return "", fmt.Errorf("the re-send of cluster_heartbeat %s got another event id, %s", first.EventID, again.EventID)
	case !again.Duplicate:
		return "", fmt.Errorf("the re-send of cluster_heartbeat %s was not answered duplicate: it may be stored twice (dedup window too short?)", first.EventID)
	}
	return fmt.Sprintf("cluster_heartbeat stored as %s; its re-send was answered duplicate (stored once)", first.EventID), nil
}

// checkProfile: a profile posted for the site is what the site's GET
// returns.
func (ch *checker) checkProfile(ctx context.Context) (string, error) {
	profile := map[string]any{
		"rtt_version": "1.0",
		"supports":    []string{"coherence", "drift", "corridor"},
		"contact":     "rtt check",
		"corridors": []map[string]any{
			{"name": "read", "path": []string{"ingress", "api", "db"}, "budget_ms": 50},
		},
		// Changes every run, so the GET cannot be answered by an old profile.
		"checked_at": ch.ts.Format(time.RFC3339Nano),
	}
	sent, _ := json.Marshal(profile)
	if err := ch.c.SetProfile(ctx, ch.cfg.Site, json.RawMessage(sent)); err != nil {
		return "", fmt.Errorf("POST /profile/%s: %w", ch.cfg.Site, ch.explain(err))
	}
	got, err := ch.c.GetProfile(ctx, ch.cfg.Site)
	if err != nil {
		return "", fmt.Errorf("profile stored, but GET /profile/%s failed: %w", ch.cfg.Site, err)
	}
	if got == nil {
		return "", fmt.Errorf("profile stored, but GET /profile/%s answered none", ch.cfg.Site)
	}
	if !sameJSON(sent, got) {
		return "", fmt.Errorf("GET /profile/%s answered another profile than the one posted: %s", ch.cfg.Site, got)
	}
	return fmt.Sprintf("POST /profile/%s, then GET returned it unchanged (supports coherence, drift, corridor; corridor \"read\")", ch.cfg.Site), nil
}

// checkObservability: the metrics count beacons, and the count grew by the
// check's heartbeat.
func (ch *checker) checkObservability(ctx context.Context) (string, error) {
	where := strings.Join(ch.cfg.Metrics, ", ")
	series := fmt.Sprintf("rtt_beacons_total{cluster=%q}", ch.cfg.Site)
	stayed := func(c beaconCount) error {
		if c.ofSite {
			return fmt.Errorf("%s stayed at %g at %s after the check beacon was stored", series, c.cluster, where)
		}
		return fmt.Errorf("rtt_beacons_total at %s has no series for cluster %q and did not grow after the check beacon was stored", where, ch.cfg.Site)
	}
	var last *beaconCount // the last successful scrape of this item
	for {
		now, err := scrapeBeacons(ctx, ch.hc, ch.cfg.Metrics, ch.cfg.Site)
		switch {
		case err != nil && last != nil && ctx.Err() != nil:
			return "", stayed(*last) // the time ran out while polling
		case err != nil:
			return "", fmt.Errorf("%w (point --metrics at ingest's /metrics)", err)
		case !now.found:
			return "", fmt.Errorf("no rtt_beacons_total at %s (point --metrics at ingest's /metrics)", where)
		case !ch.stored:
			return "", fmt.Errorf("rtt_beacons_total is exposed at %s, but no check beacon was stored to see it count", where)
		case ch.scraped != nil:
			return "", fmt.Errorf("rtt_beacons_total is exposed at %s, but the scrape before the check beacon failed: %v", where, ch.scraped)
		case now.ofSite && now.cluster > ch.before.cluster:
			return fmt.Sprintf("%s went from %g to %g at %s", series, ch.before.cluster, now.cluster, where), nil
		case !now.ofSite && now.total > ch.before.total:
			// More clusters than ingest labels: the site folded into __overflow__.
			return fmt.Sprintf("rtt_beacons_total went from %g to %g at %s (no series for cluster %q: label cap reached)",
				ch.before.total, now.total, where, ch.cfg.Site), nil
		}
		last = &now
		select {
		case <-ctx.Done():
			return "", stayed(now)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkPayloads: a beacon carrying a topology snapshot and observed flows
// is stored.
func (ch *checker) checkPayloads(ctx context.Context) (string, error) {
	b := client.Beacon{
		Site: ch.cfg.Site, Session: ch.session, Event: "topology_snapshot", TS: ch.ts,
		Structure: guideStructure,
		Topology:  map[string][]string{"ingress": {"api"}, "api": {"db"}, "db": {}},
		Flows:     []client.Flow{{Path: []string{"ingress", "api", "db"}, LatencyMS: 12}},
	}
	res, err := ch.c.Beacon(ctx, b)
	if err != nil {
		return "", fmt.Errorf("topology_snapshot not stored: %w", ch.explain(err))
	}
	return fmt.Sprintf("topology_snapshot with 3 nodes, 2 edges and 1 flow stored as %s", res.EventID), nil
}

// diagnostics are the guide's requests (section 6); the corridor request
// names the check's site, so it is aligned with the profile's corridors.
var diagnostics = []struct {
	kind    string
	payload string
	call    func(c *client.Client, ctx context.Context, payload any) (json.RawMessage, error)
}{
	{"validate", `{"system_map":{"nodes":128,"services":["auth","api","db"]},"flows":[{"from":"api","to":"db"}],"constraints":[]}`, (*client.Client).Validate},
	{"corridor", `{"site":%q,"flows":[{"path":["ingress","api","db"],"latency_ms":12}]}`, (*client.Client).Corridor},
	{"topology", `{"graph":{"auth":["api"],"api":["db"],"db":[]}}`, (*client.Client).Topology},
}

// checkDiagnostics: each diagnostic answers ok in the versioned shape, and
// the same request gets the same bytes.
func (ch *checker) checkDiagnostics(ctx context.Context) (string, error) {
	var done []string
	for _, d := range diagnostics {
		payload := d.payload
		if strings.Contains(payload, "%q") {
			payload = fmt.Sprintf(payload, ch.cfg.Site)
		}
		first, err := d.call(ch.c, ctx, json.RawMessage(payload))
		if err != nil {
			return "", fmt.Errorf("POST /%s: %w", d.kind, ch.explain(err))
		}
		var ans struct {
			Status  string   `json:"status"`
			Version string   `json:"version"`
			Kind    string   `json:"kind"`
			Score   *float64 `json:"score"`
		}
		if err := json.Unmarshal(first, &ans); err != nil {
			return "", fmt.Errorf("POST /%s: the answer is not JSON: %v", d.kind, err)
		}
		switch {
		case ans.Status != "ok":
			return "", fmt.Errorf("POST /%s: status %q, want \"ok\"", d.kind, ans.Status)
		case ans.Version != DiagVersion:
			return "", fmt.Errorf("POST /%s: version %q, want %q", d.kind, ans.Version, DiagVersion)
		case ans.Kind != d.kind:
			return "", fmt.Errorf("POST /%s: kind %q, want %q", d.kind, ans.Kind, d.kind)
		case ans.Score == nil:
			return "", fmt.Errorf("POST /%s: the answer has no score", d.kind)
		}
		again, err := d.call(ch.c, ctx, json.RawMessage(payload))
		if err != nil {
			return "", fmt.Errorf("POST /%s a second time: %w", d.kind, err)
		}
		if !bytes.Equal(first, again) {
			return "", fmt.Errorf("POST /%s answered the same request with different bytes:\n%s\n%s", d.kind, first, again)
		}
		done = append(done, fmt.Sprintf("/%s (score %g)", d.kind, *ans.Score))
	}
	return fmt.Sprintf("%s answered ok, %s, the same bytes twice", strings.Join(done, ", "), DiagVersion), nil
}

// sameJSON reports whether two JSON documents hold the same value.
func sameJSON(a, b []byte) bool {
	var va, vb any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&va) != nil || db.Decode(&vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}
