package client_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/client"
)

// request is one request a fake API received.
type request struct {
	Method, Path, Auth string
	Body               []byte
}

// fakeAPI is an httptest server answering like services/ingest's api.go:
// the same status codes, error bodies ({"status":"error","error":KIND,...})
// and batch answers. Each test scripts the answers with handle; n counts the
// requests from 1.
type fakeAPI struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []request
	handle func(n int, w http.ResponseWriter, r *http.Request, body []byte)
}

func newFakeAPI(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request, body []byte)) *fakeAPI {
	t.Helper()
	f := &fakeAPI{handle: handle}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, request{Method: r.Method, Path: r.URL.EscapedPath(), Auth: r.Header.Get("Authorization"), Body: body})
		n := len(f.reqs)
		f.mu.Unlock()
		f.handle(n, w, r, body)
	}))
	t.Cleanup(f.Close)
	return f
}

// base is the API base URL of the fake server.
func (f *fakeAPI) base() string { return f.URL + "/api/rtt" }

func (f *fakeAPI) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// fastClient retries quickly so that tests stay fast.
func fastClient(f *fakeAPI, opts ...client.Option) *client.Client {
	return client.New(f.base(), append([]client.Option{client.WithRetry(5, time.Millisecond), client.WithToken("")}, opts...)...)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, kind, msg string, vs []client.Violation) {
	writeJSON(w, code, map[string]any{"status": "error", "error": kind, "message": msg, "violations": vs})
}

// beaconOK answers POST /beacon as ingest does, echoing the event id.
func beaconOK(w http.ResponseWriter, body []byte, dup bool) {
	var b struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal(body, &b)
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "event_id": b.EventID, "duplicate": dup, "seq": 7})
}

// eventIDs returns the event ids of a JSON array of beacons.
func eventIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var items []struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(body, &items); err != nil {
		t.Fatalf("batch body is not a JSON array: %v: %s", err, body)
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.EventID
	}
	return ids
}

// checkFor polls fn every `every` until it returns nil or total has passed.
func checkFor(t *testing.T, total, every time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(every)
	}
}

// heartbeat is the seed guide's cluster heartbeat.
func heartbeat(site string) client.Beacon {
	return client.Beacon{
		Site:    site,
		Session: "dc-1768836600",
		Event:   "cluster_heartbeat",
		TS:      time.Date(2026, 1, 19, 15, 30, 0, 0, time.UTC),
		Structure: client.Structure{
			URL: "internal://cluster", Title: "Cluster State",
			NavCount: 12, MainCount: 9, FormCount: 80, ButtonCount: 4, DomNodes: 384,
		},
	}
}
