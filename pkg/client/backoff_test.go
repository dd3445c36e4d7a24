package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestBackoffDoublesWithJitterUpToTheCap(t *testing.T) {
	c := New("http://127.0.0.1:1", WithRetry(20, 100*time.Millisecond))
	for n := 1; n <= 12; n++ {
		full := min(100*time.Millisecond<<(n-1), MaxBackoff)
		for range 50 {
			d := c.backoffFor(n)
			if d < full/2 || d > full {
				t.Fatalf("attempt %d: wait %v outside [%v, %v]", n, d, full/2, full)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 19, 15, 30, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"1":                             time.Second,
		" 7 ":                           7 * time.Second,
		"-3":                            0,
		"soon":                          0,
		"Mon, 19 Jan 2026 15:30:05 GMT": 5 * time.Second,
		"Mon, 19 Jan 2026 15:29:00 GMT": 0,
	}
	for v, want := range cases {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := parseRetryAfter(h, now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", v, got, want)
		}
	}
}

// TestRetryAfterIsHonoured records the waits instead of sleeping them.
func TestRetryAfterIsHonoured(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		switch n {
		case 1:
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable) // no Retry-After: backoff
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"status":"ok","event_id":"x","duplicate":false,"seq":1}`))
		}
	}))
	defer srv.Close()
	c := New(srv.URL, WithRetry(5, 40*time.Millisecond))
	var mu sync.Mutex
	var waits []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return nil
	}
	if _, err := c.Beacon(context.Background(), Beacon{Site: "s", Event: "e", TS: time.Unix(1e9, 0)}); err != nil {
		t.Fatal(err)
	}
	if len(waits) != 2 || waits[0] != 2*time.Second || waits[1] < 40*time.Millisecond || waits[1] > 80*time.Millisecond {
		t.Fatalf("waits %v, want [2s, 40-80ms]", waits)
	}
}
