package beaconcmd

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/client"
)

var now = time.Date(2026, 1, 19, 15, 30, 0, 123456789, time.UTC)

// write puts content into a file of the test's folder and returns its path.
func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuild(t *testing.T) {
	t.Setenv("RTT_URL", "")
	heartbeat := write(t, "heartbeat.json", `{"site":"datacenter-east","session":"dc-1","event":"cluster_heartbeat",
		"ts":"2026-01-19T15:30:00Z","labels":{"cluster":"east"},
		"structure":{"url":"internal://cluster","title":"Cluster State","nav_count":0,"main_count":2,"form_count":0,"button_count":0,"dom_nodes":7}}`)
	topo := write(t, "topology.json", `{"ingress":["api"],"api":["db"],"db":null}`)
	flows := write(t, "flows.json", `[{"path":["ingress","api","db"],"latency_ms":12.5,"corridor":"read"}]`)
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  client.Beacon
		err   string // part of the usage error, if any
	}{
		{name: "flags with their defaults", args: []string{"--site", "dc", "--event", "deployment_start"},
			want: client.Beacon{Site: "dc", Event: "deployment_start", Session: "cli-1768836600", TS: now.Truncate(time.Millisecond),
				Structure: client.Structure{URL: DefaultURL, Title: "deployment_start"}}},
		{name: "every field from flags", args: []string{"-site", "dc", "-event", "deployment_finish", "-session", "gh-7",
			"-ts", "2026-01-19T17:30:00+02:00", "-scope", "api", "-event-id", "gh-7-finish", "-label", "service=api",
			"-label", "result=success", "-label", "note=a=b", "-url", "internal://api", "-title", "API", "-nav-count", "1",
			"-main-count", "2", "-form-count", "3", "-button-count", "4", "-dom-nodes", "5"},
			want: client.Beacon{Site: "dc", Event: "deployment_finish", Session: "gh-7", Scope: "api", EventID: "gh-7-finish",
				TS:     time.Date(2026, 1, 19, 17, 30, 0, 0, time.FixedZone("", 2*3600)),
				Labels: map[string]string{"service": "api", "result": "success", "note": "a=b"},
				Structure: client.Structure{URL: "internal://api", Title: "API", NavCount: 1, MainCount: 2, FormCount: 3,
					ButtonCount: 4, DomNodes: 5}}},
		{name: "a whole payload", args: []string{"--json", heartbeat},
			want: client.Beacon{Site: "datacenter-east", Session: "dc-1", Event: "cluster_heartbeat", TS: time.Date(2026, 1, 19, 15, 30, 0, 0, time.UTC),
				Labels:    map[string]string{"cluster": "east"},
				Structure: client.Structure{URL: "internal://cluster", Title: "Cluster State", MainCount: 2, DomNodes: 7}}},
		{name: "flags override the payload, labels merge", args: []string{"--json", heartbeat, "--event", "deployment_start", "--dom-nodes", "0", "--label", "cluster=west", "--label", "v=2"},
			want: client.Beacon{Site: "datacenter-east", Session: "dc-1", Event: "deployment_start", TS: time.Date(2026, 1, 19, 15, 30, 0, 0, time.UTC),
				Labels:    map[string]string{"cluster": "west", "v": "2"},
				Structure: client.Structure{URL: "internal://cluster", Title: "Cluster State", MainCount: 2}}},
		{name: "payload from stdin, ts now", args: []string{"--json", "-"}, stdin: `{"site":"s","event":"e","structure":{"url":"u","title":"t","nav_count":1,"main_count":0,"form_count":0,"button_count":0,"dom_nodes":0}}`,
			want: client.Beacon{Site: "s", Event: "e", TS: now.Truncate(time.Millisecond), Structure: client.Structure{URL: "u", Title: "t", NavCount: 1}}},
		{name: "topology and flows", args: []string{"--site", "dc", "--event", "topology_snapshot", "--session", "s", "--topology-file", topo, "--flows-file", flows},
			want: client.Beacon{Site: "dc", Event: "topology_snapshot", Session: "s", TS: now.Truncate(time.Millisecond),
				Structure: client.Structure{URL: DefaultURL, Title: "topology_snapshot"},
				Topology:  map[string][]string{"ingress": {"api"}, "api": {"db"}, "db": nil},
				Flows:     []client.Flow{{Path: []string{"ingress", "api", "db"}, LatencyMS: 12.5, Corridor: "read"}}}},
		{name: "no site", args: []string{"--event", "e"}, err: "--site is required"},
		{name: "no event", args: []string{"--site", "s"}, err: "--event is required"},
		{name: "payload without event", args: []string{"--json", "-"}, stdin: `{"site":"s"}`, err: "--event is required"},
		{name: "bad ts", args: []string{"--site", "s", "--event", "e", "--ts", "19.01.2026"}, err: `--ts: "19.01.2026" is not an RFC 3339 date-time`},
		{name: "two files on stdin", args: []string{"--json", "-", "--flows-file", "-"}, err: "only one of --json, --topology-file and --flows-file can read stdin"},
		{name: "missing file", args: []string{"--site", "s", "--event", "e", "--topology-file", "/nonexistent/t.json"}, err: "--topology-file: open /nonexistent/t.json: no such file"},
		{name: "wrong type in payload", args: []string{"--json", "-"}, stdin: `{"site":"s","event":"e","structure":{"nav_count":"3"}}`, err: "--json -: structure.nav_count: got string, want integer"},
		{name: "unknown field in payload", args: []string{"--json", "-"}, stdin: `{"site":"s","event":"e","colour":"red"}`, err: `--json -: unknown field "colour"`},
		{name: "bad ts in payload", args: []string{"--json", "-"}, stdin: `{"site":"s","event":"e","ts":"yesterday"}`, err: "--json -: ts: want an RFC 3339 date-time"},
		{name: "malformed payload", args: []string{"--json", "-"}, stdin: `{"site":`, err: "--json -: unexpected EOF"},
		{name: "two payloads", args: []string{"--json", "-"}, stdin: `{"site":"s","event":"e"} {}`, err: "--json -: data after the JSON value"},
		{name: "empty payload", args: []string{"--json", "-"}, stdin: ``, err: "--json -: empty, want JSON"},
		{name: "flows not an array", args: []string{"--site", "s", "--event", "e", "--flows-file", "-"}, stdin: `{"path":["a"]}`, err: "--flows-file -: got object, want array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.args, io.Discard)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			b, err := Build(f, strings.NewReader(tt.stdin), now)
			if tt.err != "" {
				var e *Error
				if !errors.As(err, &e) || e.Code != ExitUsage || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want a usage error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !b.TS.Equal(tt.want.TS) {
				t.Errorf("ts %v, want %v", b.TS, tt.want.TS)
			}
			b.TS, tt.want.TS = time.Time{}, time.Time{}
			if !reflect.DeepEqual(b, tt.want) {
				t.Errorf("beacon\n%+v\nwant\n%+v", b, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	t.Setenv("RTT_URL", "")
	t.Run("environment", func(t *testing.T) {
		t.Setenv("RTT_BEACON_SITE", "from-env")
		t.Setenv("RTT_BEACON_URL", "internal://env")
		t.Setenv("RTT_URL", "http://rtt.example:8080/api/rtt") // the client's, not --url
		f, err := Parse([]string{"--event", "e"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if f.Site != "from-env" || f.URL != "internal://env" || f.URLBase != "" {
			t.Errorf("site %q url %q url-base %q", f.Site, f.URL, f.URLBase)
		}
		if got := NewClient(f).BaseURL(); got != "http://rtt.example:8080/api/rtt" {
			t.Errorf("client base URL %q", got)
		}
	})
	t.Run("help", func(t *testing.T) {
		var out bytes.Buffer
		_, err := Parse([]string{"-h"}, &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("got %v", err)
		}
		for _, want := range []string{"Exit codes:", "GitHub Actions", "GitLab CI", "deployment_finish", "RTT_BEACON_<FLAG>", "-event-id", "-topology-file"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("usage lacks %q", want)
			}
		}
	})
	for _, tt := range []struct {
		name string
		args []string
		err  string
	}{
		{"unknown flag", []string{"--colour", "red"}, "flag provided but not defined: -colour (see 'rtt help beacon')"},
		{"bad label", []string{"--label", "novalue"}, `invalid value "novalue" for flag -label: want key=value`},
		{"bad count", []string{"--nav-count", "many"}, `invalid value "many" for flag -nav-count`},
		{"stray argument", []string{"--site", "s", "deploy"}, `unexpected arguments ["deploy"]`},
		{"no attempts", []string{"--attempts", "0"}, "--attempts: must be at least 1"},
		{"no timeout", []string{"--timeout", "0s"}, "--timeout: must be positive"},
		{"bad base URL", []string{"--url-base", "127.0.0.1:8080/api/rtt"}, `--url-base: "127.0.0.1:8080/api/rtt" is not an API base URL`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.args, io.Discard)
			var e *Error
			if !errors.As(err, &e) || e.Code != ExitUsage || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %v, want a usage error with %q", err, tt.err)
			}
		})
	}
}

// TestSend covers the answers a live ingest rarely gives (401, 404, 500,
// 503 every time) with a fake server; the live test in package cli covers
// the rest against a real one.
func TestSend(t *testing.T) {
	t.Setenv("RTT_TOKEN", "")
	tests := []struct {
		name    string
		status  int
		body    string
		code    int
		err     []string
		maxTime time.Duration
	}{
		{name: "unauthorized", status: 401, body: `{"status":"error","error":"unauthorized","message":"send the header Authorization: Bearer <token>"}`,
			code: ExitRefused, err: []string{"server refused the beacon (401 unauthorized)", "--token or RTT_TOKEN"}},
		{name: "wrong base URL", status: 404, body: "404 page not found",
			code: ExitRefused, err: []string{"server refused the beacon (404): 404 page not found", "set --url-base or RTT_URL"}},
		{name: "too large", status: 413, body: `{"status":"error","error":"too_large","message":"request body exceeds 10 bytes"}`,
			code: ExitRefused, err: []string{"(413 too_large): request body exceeds 10 bytes"}},
		{name: "internal error", status: 500, body: `{"status":"error","error":"internal","message":"boom"}`,
			code: ExitUnavailable, err: []string{"not stored", "500 internal: boom", "send it again later"}},
		{name: "unavailable every time", status: 503, body: `{"status":"error","error":"unavailable","message":"beacon not stored"}`,
			code: ExitUnavailable, err: []string{"not stored", "503 unavailable"}, maxTime: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls++
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			start := time.Now()
			var stdout bytes.Buffer
			err := Main(context.Background(), []string{"--url-base", srv.URL + "/api/rtt", "--site", "s", "--event", "e", "--attempts", "2", "--timeout", "5s"},
				nil, &stdout, io.Discard)
			var e *Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Fatalf("got %v, want exit code %d", err, tt.code)
			}
			for _, want := range tt.err {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout: %q", &stdout)
			}
			if tt.maxTime > 0 && time.Since(start) > tt.maxTime {
				t.Errorf("took %v", time.Since(start))
			}
			if want := map[int]int{500: 1, 503: 2}[tt.status]; want > 0 && calls != want {
				t.Errorf("%d attempts, want %d", calls, want)
			}
		})
	}
}
