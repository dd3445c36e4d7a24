package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/client"
	"github.com/rtt-dev/rtt/pkg/schema"
	"github.com/rtt-dev/rtt/schemas"
)

func TestNewReadsEnvironment(t *testing.T) {
	f := newFakeAPI(t, func(_ int, w http.ResponseWriter, _ *http.Request, body []byte) { beaconOK(w, body, false) })
	t.Setenv("RTT_URL", f.base()+"/")
	t.Setenv("RTT_TOKEN", "s3cret")
	c := client.New("")
	if c.BaseURL() != f.base() {
		t.Fatalf("base URL %q, want %q", c.BaseURL(), f.base())
	}
	if _, err := c.Beacon(context.Background(), heartbeat("dc-east")); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New("", client.WithToken("other")).Beacon(context.Background(), heartbeat("dc-east")); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if reqs[0].Path != "/api/rtt/beacon" || reqs[0].Auth != "Bearer s3cret" || reqs[1].Auth != "Bearer other" {
		t.Fatalf("requests %+v", reqs)
	}

	t.Setenv("RTT_URL", "")
	t.Setenv("RTT_TOKEN", "")
	if got := client.New("").BaseURL(); got != client.DefaultBaseURL {
		t.Fatalf("default base URL %q", got)
	}
}

func TestBeaconRetriesTransientAnswersWithTheSameEventID(t *testing.T) {
	f := newFakeAPI(t, func(n int, w http.ResponseWriter, _ *http.Request, body []byte) {
		switch n {
		case 1:
			writeError(w, http.StatusServiceUnavailable, "unavailable", "beacon not stored, retry with the same event_id", nil)
		case 2:
			writeError(w, http.StatusTooManyRequests, "slow_down", "too many requests", nil)
		case 3:
			w.WriteHeader(http.StatusBadGateway) // a proxy: no rtt error body
		case 4:
			w.WriteHeader(http.StatusGatewayTimeout)
		default:
			beaconOK(w, body, true)
		}
	})
	res, err := fastClient(f).Beacon(context.Background(), heartbeat("dc-east"))
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 5 {
		t.Fatalf("%d attempts, want 5", len(reqs))
	}
	for _, r := range reqs[1:] {
		if !bytes.Equal(r.Body, reqs[0].Body) {
			t.Fatalf("retry sent a different body:\n%s\n%s", r.Body, reqs[0].Body)
		}
	}
	if !strings.HasPrefix(res.EventID, "b-") || !bytes.Contains(reqs[0].Body, []byte(`"event_id":"`+res.EventID+`"`)) {
		t.Fatalf("event id %q not sent in the first attempt: %s", res.EventID, reqs[0].Body)
	}
	if !res.Duplicate || res.Seq != 7 {
		t.Fatalf("result %+v", res)
	}
}

func TestBeaconRetriesNetworkErrors(t *testing.T) {
	f := newFakeAPI(t, func(n int, w http.ResponseWriter, _ *http.Request, body []byte) {
		if n == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // the connection drops before any answer
			}
			return
		}
		beaconOK(w, body, false)
	})
	if _, err := fastClient(f).Beacon(context.Background(), heartbeat("dc-east")); err != nil {
		t.Fatal(err)
	}
	if reqs := f.requests(); len(reqs) != 2 || !bytes.Equal(reqs[0].Body, reqs[1].Body) {
		t.Fatalf("requests %+v", reqs)
	}
}

func TestBeaconErrorsAreTypedAndNotRetried(t *testing.T) {
	nav := []client.Violation{{Field: "structure.nav_count", Rule: "got string, want integer"}}
	cases := []struct {
		name  string
		code  int
		kind  string
		vs    []client.Violation
		is    error
		isnt  error
		field string
	}{
		{"invalid", 400, "invalid", nav, client.ErrInvalid, client.ErrUnavailable, "structure.nav_count"},
		{"unauthorized", 401, "unauthorized", nil, client.ErrUnauthorized, client.ErrInvalid, ""},
		{"too large", 413, "too_large", nil, client.ErrTooLarge, client.ErrInvalid, ""},
		{"media type", 415, "unsupported_media_type", nil, nil, client.ErrInvalid, ""},
		{"not found", 404, "not_found", nil, nil, client.ErrUnavailable, ""},
		{"internal", 500, "internal", nil, nil, client.ErrUnavailable, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t, func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) {
				writeError(w, tc.code, tc.kind, "the server's message", tc.vs)
			})
			_, err := fastClient(f).Beacon(context.Background(), heartbeat("dc-east"))
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v (%T) is not an *APIError", err, err)
			}
			if apiErr.StatusCode != tc.code || apiErr.Kind != tc.kind || apiErr.Message != "the server's message" {
				t.Fatalf("APIError %+v", apiErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tc.is)
			}
			if errors.Is(err, tc.isnt) {
				t.Fatalf("errors.Is(%v, %v) = true", err, tc.isnt)
			}
			if tc.field != "" && (len(apiErr.Violations) != 1 || apiErr.Violations[0].Field != tc.field) {
				t.Fatalf("violations %+v", apiErr.Violations)
			}
			if n := len(f.requests()); n != 1 {
				t.Fatalf("%d attempts, want 1", n)
			}
		})
	}
}

func TestBeaconGivesUpAfterMaxAttempts(t *testing.T) {
	f := newFakeAPI(t, func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "stream full", nil)
	})
	c := client.New(f.base(), client.WithRetry(3, time.Millisecond))
	_, err := c.Beacon(context.Background(), heartbeat("dc-east"))
	if !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), "stream full") {
		t.Fatalf("error %v", err)
	}
	if n := len(f.requests()); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
}

func TestContextEndsTheRetries(t *testing.T) {
	f := newFakeAPI(t, func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "stream full", nil)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := client.New(f.base()).Beacon(ctx, heartbeat("dc-east"))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("gave up after %v: it should not wait for a Retry-After beyond the deadline", d)
	}
}

func TestEventIDMatchesTheServer(t *testing.T) {
	set, err := schema.Compile(schemas.JSON())
	if err != nil {
		t.Fatal(err)
	}
	dec := beacon.NewDecoder(set)
	full := heartbeat("dc-<east> & \"west\" ü")
	full.Event = "topology_snapshot"
	full.Scope = "internal://cluster"
	full.TS = time.Date(2026, 1, 19, 16, 30, 0, 123456789, time.FixedZone("CET", 3600))
	full.Labels = map[string]string{"cluster": "dc-east", "z": "1", "a": "<b>"}
	full.Topology = map[string][]string{"ingress": {"api"}, "api": {"db", "cache"}, "db": nil, "cache": {}}
	full.Flows = []client.Flow{{Path: []string{"ingress", "api", "db"}, LatencyMS: 12.5}, {Path: []string{"api"}, LatencyMS: 1e-7, Corridor: "c"}, {Path: []string{"x"}, LatencyMS: 3}}
	for _, b := range []client.Beacon{heartbeat("dc-east"), full} {
		id, err := client.DeriveEventID(b)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(b)
		got, err := dec.Decode(raw)
		if err != nil {
			t.Fatalf("the server rejects the client's encoding: %v\n%s", err, raw)
		}
		if got.EventID != id {
			t.Fatalf("client derived %s, server %s for %s", id, got.EventID, raw)
		}
		b.EventID = "ignored"
		if again, _ := client.DeriveEventID(b); again != id {
			t.Fatalf("DeriveEventID depends on EventID: %s != %s", again, id)
		}
	}
}

func TestBeaconKeepsAGivenEventIDAndFillsTS(t *testing.T) {
	f := newFakeAPI(t, func(_ int, w http.ResponseWriter, _ *http.Request, body []byte) { beaconOK(w, body, false) })
	b := heartbeat("dc-east")
	b.EventID = "deploy-42:start"
	b.TS = time.Time{}
	res, err := fastClient(f).Beacon(context.Background(), b)
	if err != nil || res.EventID != "deploy-42:start" {
		t.Fatalf("%+v %v", res, err)
	}
	var sent struct {
		TS string `json:"ts"`
	}
	_ = json.Unmarshal(f.requests()[0].Body, &sent)
	ts, err := time.Parse(time.RFC3339Nano, sent.TS)
	if err != nil || time.Since(ts) > time.Minute || !strings.HasSuffix(sent.TS, "Z") {
		t.Fatalf("ts %q: %v", sent.TS, err)
	}
}

// batchAnswer answers a POST /beacons like ingest: per-item statuses from
// the script, 200/207/400/503 by the mix.
func batchAnswer(w http.ResponseWriter, ids []string, statuses []string) {
	type item struct {
		Index      int                `json:"index"`
		Status     string             `json:"status"`
		EventID    string             `json:"event_id,omitempty"`
		Error      string             `json:"error,omitempty"`
		Violations []client.Violation `json:"violations,omitempty"`
	}
	items := make([]item, len(ids))
	ok, unavailable := 0, 0
	for i, st := range statuses {
		items[i] = item{Index: i, Status: st}
		switch st {
		case "ok":
			ok++
			items[i].EventID = ids[i]
		case "invalid":
			items[i].Error = "invalid beacon: structure.dom_nodes: must be >= 0"
			items[i].Violations = []client.Violation{{Field: "structure.dom_nodes", Rule: "must be >= 0"}}
		case "unavailable":
			unavailable++
			items[i].EventID = ids[i]
			items[i].Error = "not stored, retry with the same event_id: timeout"
		}
	}
	code, status := http.StatusOK, "ok"
	switch {
	case ok == len(ids):
	case ok > 0:
		code, status = http.StatusMultiStatus, "partial"
	case unavailable > 0:
		code, status = http.StatusServiceUnavailable, "error"
		w.Header().Set("Retry-After", "0")
	default:
		code, status = http.StatusBadRequest, "error"
	}
	writeJSON(w, code, map[string]any{"status": status, "accepted": ok, "results": items})
}

func TestBeaconsResendsOnlyUnavailableItems(t *testing.T) {
	f := newFakeAPI(t, func(n int, w http.ResponseWriter, _ *http.Request, body []byte) {
		ids := eventIDs(t, body)
		switch n {
		case 1:
			batchAnswer(w, ids, []string{"ok", "invalid", "unavailable", "unavailable"})
		case 2:
			batchAnswer(w, ids, []string{"unavailable", "ok"})
		default:
			batchAnswer(w, ids, []string{"ok"})
		}
	})
	bs := make([]client.Beacon, 4)
	for i := range bs {
		bs[i] = heartbeat("dc-" + string(rune('a'+i)))
	}
	res, err := fastClient(f).Beacons(context.Background(), bs)
	if err != nil {
		t.Fatal(err)
	}
	var sent [][]string
	for _, r := range f.requests() {
		sent = append(sent, eventIDs(t, r.Body))
	}
	if len(sent) != 3 || len(sent[0]) != 4 || len(sent[1]) != 2 || len(sent[2]) != 1 {
		t.Fatalf("sent %v", sent)
	}
	if sent[1][0] != sent[0][2] || sent[1][1] != sent[0][3] || sent[2][0] != sent[0][2] {
		t.Fatalf("re-sent other items or other ids: %v", sent)
	}
	if res.Accepted != 3 || res.Rejected != 1 || res.Unavailable != 0 || res.Attempts != 3 {
		t.Fatalf("result %+v", res)
	}
	for i, it := range res.Results {
		if it.Index != i || it.EventID != sent[0][i] {
			t.Fatalf("item %d: %+v", i, it)
		}
	}
	if err := res.Results[1].Err(); !errors.Is(err, client.ErrInvalid) || res.Results[1].Violations[0].Field != "structure.dom_nodes" {
		t.Fatalf("invalid item: %+v %v", res.Results[1], err)
	}
	if res.Results[0].Err() != nil {
		t.Fatal("stored item has an error")
	}
}

func TestBeaconsAllInvalidIsNotACallError(t *testing.T) {
	f := newFakeAPI(t, func(_ int, w http.ResponseWriter, _ *http.Request, body []byte) {
		ids := eventIDs(t, body)
		batchAnswer(w, ids, []string{"invalid", "invalid"})
	})
	res, err := fastClient(f).Beacons(context.Background(), []client.Beacon{heartbeat("a"), heartbeat("b")})
	if err != nil || res.Rejected != 2 || res.Attempts != 1 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestBeaconsFailures(t *testing.T) {
	cases := []struct {
		name     string
		handle   func(w http.ResponseWriter, ids []string)
		is       error
		attempts int
		status   string
	}{
		{"too large", func(w http.ResponseWriter, _ []string) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", "request body exceeds 16777216 bytes; split it into smaller batches", nil)
		}, client.ErrTooLarge, 1, client.StatusFailed},
		{"malformed batch", func(w http.ResponseWriter, _ []string) {
			writeError(w, http.StatusBadRequest, "invalid", "batch of 20000 items exceeds the limit of 10000", []client.Violation{{Rule: "batch of 20000 items exceeds the limit of 10000"}})
		}, client.ErrInvalid, 1, client.StatusFailed},
		{"stays unavailable", func(w http.ResponseWriter, ids []string) {
			batchAnswer(w, ids, []string{"unavailable", "unavailable"})
		}, client.ErrUnavailable, 5, client.StatusUnavailable},
		{"proxy down", func(w http.ResponseWriter, _ []string) {
			w.WriteHeader(http.StatusBadGateway)
		}, client.ErrUnavailable, 5, client.StatusUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t, func(_ int, w http.ResponseWriter, _ *http.Request, body []byte) { tc.handle(w, eventIDs(t, body)) })
			res, err := fastClient(f).Beacons(context.Background(), []client.Beacon{heartbeat("a"), heartbeat("b")})
			if !errors.Is(err, tc.is) {
				t.Fatalf("error %v, want %v", err, tc.is)
			}
			if res.Attempts != tc.attempts || len(f.requests()) != tc.attempts {
				t.Fatalf("%d attempts (%d requests), want %d", res.Attempts, len(f.requests()), tc.attempts)
			}
			for _, it := range res.Results {
				if it.Status != tc.status || it.EventID == "" {
					t.Fatalf("item %+v, want status %s", it, tc.status)
				}
			}
		})
	}
}

func TestProfiles(t *testing.T) {
	var mu sync.Mutex
	var stored json.RawMessage
	f := newFakeAPI(t, func(_ int, w http.ResponseWriter, r *http.Request, body []byte) {
		mu.Lock()
		defer mu.Unlock()
		const site = "dc east/1"
		if r.URL.EscapedPath() != "/api/rtt/profile/dc%20east%2F1" {
			writeError(w, http.StatusNotFound, "not_found", "no endpoint "+r.URL.EscapedPath(), nil)
			return
		}
		switch r.Method {
		case http.MethodGet:
			p := stored
			if p == nil {
				p = json.RawMessage("null")
			}
			writeJSON(w, http.StatusOK, map[string]any{"site": site, "profile": p})
		case http.MethodPost:
			stored = body
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}
	})
	c := fastClient(f)
	ctx := context.Background()
	p, err := c.GetProfile(ctx, "dc east/1")
	if err != nil || p != nil {
		t.Fatalf("no profile yet: %s %v", p, err)
	}
	want := map[string]any{"rtt_version": "1.0", "supports": []string{"drift"}, "contact": "infra@example.org"}
	if err := c.SetProfile(ctx, "dc east/1", want); err != nil {
		t.Fatal(err)
	}
	p, err = c.GetProfile(ctx, "dc east/1")
	if err != nil || !bytes.Contains(p, []byte(`"contact":"infra@example.org"`)) {
		t.Fatalf("profile %s %v", p, err)
	}
}

func TestDiagnostics(t *testing.T) {
	f := newFakeAPI(t, func(_ int, w http.ResponseWriter, r *http.Request, body []byte) {
		switch r.URL.Path {
		case "/api/rtt/topology":
			writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "version": 1, "echo": json.RawMessage(body)})
		default:
			writeError(w, http.StatusNotImplemented, "not_available", "validate is being built", nil)
		}
	})
	c := fastClient(f)
	ctx := context.Background()
	out, err := c.Topology(ctx, map[string]any{"graph": map[string][]string{"api": {"db"}, "db": {}}})
	if err != nil || !bytes.Contains(out, []byte(`"echo":{"graph":{"api":["db"],"db":[]}}`)) {
		t.Fatalf("topology: %s %v", out, err)
	}
	if _, err := c.Validate(ctx, json.RawMessage(`{"system_map":{},"flows":[]}`)); !errors.Is(err, client.ErrNotImplemented) {
		t.Fatalf("validate: %v", err)
	}
	if _, err := c.Corridor(ctx, map[string]any{"flows": []client.Flow{{Path: []string{"a"}, LatencyMS: 1}}}); !errors.Is(err, client.ErrNotImplemented) {
		t.Fatalf("corridor: %v", err)
	}
}

// FuzzDeriveEventID checks that the client's event id is the server's
// (pkg/beacon.DeriveID of the decoded payload) for any content.
func FuzzDeriveEventID(f *testing.F) {
	f.Add("dc-east", "cluster", "east", "ingress", 12.5, int64(384), int64(1768836600123456789))
	f.Add("<&>\u2028", "é", "\xff", "", 1e21, int64(0), int64(0))
	f.Add("", "", "", "a", 0.1+0.2, int64(2147483647), int64(-1))
	f.Fuzz(func(t *testing.T, site, key, value, node string, latency float64, nodes, ns int64) {
		b := heartbeat(site)
		b.TS = time.Unix(0, ns).In(time.FixedZone("x", 5400))
		b.Labels = map[string]string{key: value, "cluster": site}
		b.Topology = map[string][]string{node: {value}, key: nil}
		b.Flows = []client.Flow{{Path: []string{node, key}, LatencyMS: latency, Corridor: value}}
		b.Structure.DomNodes = nodes
		b.Structure.Title = value
		id, err := client.DeriveEventID(b)
		if err != nil {
			return // NaN or infinite latency: not JSON
		}
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := beacon.DecodeJSON(raw)
		if err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
		if want := beacon.DeriveID(doc); id != want {
			t.Fatalf("client %s, server %s for %s", id, want, raw)
		}
	})
}
