package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseMetrics(t *testing.T) {
	in := `# HELP rtt_beacons_total Beacons accepted.
# TYPE rtt_beacons_total counter
rtt_beacons_total{cluster="east"} 128
rtt_beacons_total{cluster="we\"ird,{x}=1",zone="a"} 2 1768836600000
rtt_beacons_duplicate_total 3
go_gc_duration_seconds{quantile="0.5"} 1.5e-05
broken{cluster="east" 1
also_broken 1x

rtt_drift_events_total{ cluster = "east" , } 3
`
	got, err := ParseMetrics(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Sample{
		{"rtt_beacons_total", map[string]string{"cluster": "east"}, 128},
		{"rtt_beacons_total", map[string]string{"cluster": `we"ird,{x}=1`, "zone": "a"}, 2},
		{"rtt_beacons_duplicate_total", map[string]string{}, 3},
		{"go_gc_duration_seconds", map[string]string{"quantile": "0.5"}, 1.5e-05},
		{"rtt_drift_events_total", map[string]string{"cluster": "east"}, 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}

func TestMetricsURL(t *testing.T) {
	for base, want := range map[string]string{
		"http://127.0.0.1:8080/api/rtt":  "http://127.0.0.1:8080/metrics",
		"https://rtt.example/api/rtt/":   "https://rtt.example/metrics",
		"not a url":                      "",
		"http://[::1]:8080/prefix/api/x": "http://[::1]:8080/metrics",
	} {
		if got := MetricsURL(base); got != want {
			t.Errorf("MetricsURL(%q) = %q, want %q", base, got, want)
		}
	}
}

// fakeAPI is an rtt API whose answers a test can spoil one at a time, to
// see that each item fails with its reason. The live test in package cli
// runs the checklist against a real stack.
type fakeAPI struct {
	noDuplicate bool // re-sent beacons are stored again
	badVersion  bool // diagnostics answer another version
	unstable    bool // diagnostics answer different bytes every time
	noCount     bool // rtt_beacons_total does not grow
	profileLost bool // GET /profile answers null

	mu      sync.Mutex
	ids     map[string]bool
	count   int
	calls   int
	profile json.RawMessage
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/metrics":
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "# TYPE rtt_beacons_total counter\nrtt_beacons_total{cluster=\"rtt-check\"} %d\n", f.count)
	case r.URL.Path == "/api/rtt/beacon":
		var b struct {
			EventID string `json:"event_id"`
		}
		json.Unmarshal(body, &b)
		dup := f.ids[b.EventID] && !f.noDuplicate
		if f.ids == nil {
			f.ids = map[string]bool{}
		}
		f.ids[b.EventID] = true
		if !dup && !f.noCount {
			f.count++
		}
		fmt.Fprintf(w, `{"status":"ok","event_id":%q,"duplicate":%t,"seq":1}`, b.EventID, dup)
	case strings.HasPrefix(r.URL.Path, "/api/rtt/profile/") && r.Method == http.MethodPost:
		f.profile = body
		io.WriteString(w, `{"status":"ok"}`)
	case strings.HasPrefix(r.URL.Path, "/api/rtt/profile/"):
		p := f.profile
		if p == nil || f.profileLost {
			p = json.RawMessage("null")
		}
		fmt.Fprintf(w, `{"site":"rtt-check","profile":%s}`, p)
	default:
		kind := strings.TrimPrefix(r.URL.Path, "/api/rtt/")
		version := DiagVersion
		if f.badVersion {
			version = "placeholder"
		}
		extra := ""
		if f.unstable {
			extra = fmt.Sprintf(`,"at":%d`, f.calls)
		}
		fmt.Fprintf(w, `{"status":"ok","version":%q,"kind":%q,"score":1,"result":{}%s}`+"\n", version, kind, extra)
	}
}

func TestRunFailures(t *testing.T) {
	tests := []struct {
		name string
		api  *fakeAPI
		item string // the one item that fails
		why  string
	}{
		{"all pass", &fakeAPI{}, "", ""},
		{"re-send stored twice", &fakeAPI{noDuplicate: true}, ItemBeacons, "was not answered duplicate"},
		{"profile lost", &fakeAPI{profileLost: true}, ItemProfile, "answered none"},
		{"counter stuck", &fakeAPI{noCount: true}, ItemObservability, `rtt_beacons_total{cluster="rtt-check"} stayed at 0`},
		{"placeholder version", &fakeAPI{badVersion: true}, ItemDiagnostics, `POST /validate: version "placeholder", want "vst-beta/1"`},
		{"unstable answers", &fakeAPI{unstable: true}, ItemDiagnostics, "POST /validate answered the same request with different bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.api)
			defer srv.Close()
			var out bytes.Buffer
			results := Run(context.Background(), Config{URL: srv.URL + "/api/rtt", Token: "-", Timeout: 500 * time.Millisecond}, &out)
			if len(results) != 6 {
				t.Fatalf("%d results:\n%s", len(results), &out)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			for i, r := range results {
				wantOK := r.Item != tt.item
				if r.OK != wantOK {
					t.Errorf("%s: ok %t, want %t\n%s", r.Item, r.OK, wantOK, &out)
				}
				if !wantOK && !strings.Contains(r.Detail, tt.why) {
					t.Errorf("%s: reason %q lacks %q", r.Item, r.Detail, tt.why)
				}
				prefix := map[bool]string{true: "PASS  ", false: "FAIL  "}[r.OK] + r.Item + ": "
				if !strings.HasPrefix(lines[i], prefix) {
					t.Errorf("line %d %q, want it to start with %q", i, lines[i], prefix)
				}
			}
		})
	}
}
