package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/rtt-dev/rtt/internal/loadgen"
	"github.com/rtt-dev/rtt/pkg/beacon"
)

// tsLayout writes every generated ts with the same width (microseconds,
// trailing zeros kept), so a template's ts can be overwritten in place.
const tsLayout = "2006-01-02T15:04:05.000000Z"

// template is one captured beacon whose ts and event_id are overwritten for
// each copy: every generated beacon is unique (new id, new ts) and otherwise
// byte for byte what the load generator sends.
type template struct {
	raw         []byte
	tsAt, idAt  int // offsets of the ts and event_id values in raw
	site, event string
}

// Corpus is what the load generator sends: the site profiles and a mix of
// beacons (heartbeats, topology snapshots, deployments, flows), captured
// once by running internal/loadgen against an in-process fake API.
type Corpus struct {
	templates []template
	profiles  map[string][]byte // site -> POST /profile body
	tag       uint64            // distinguishes the ids of two Corpus values
	next      uint64            // copies made, for unique ids
	mu        sync.Mutex
}

// captureCorpus runs the load generator for n beacons over sites sites
// against a fake API that answers like ingest, and keeps what it sent.
// The heartbeat period is chosen so that about one beacon in seven is a
// heartbeat (a cluster reporting every few seconds with flow observations in
// between); the mix then averages about 510 bytes, the size of the message
// the reference figures in shared/DESIGN.md were measured with.
func captureCorpus(ctx context.Context, n, sites int) (*Corpus, error) {
	c := &Corpus{profiles: map[string][]byte{}, tag: uint64(time.Now().UnixNano())}
	var mu sync.Mutex
	var raws [][]byte
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/rtt/profile/{site}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		c.profiles[r.PathValue("site")] = body
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("POST /api/rtt/beacons", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		items, err := beacon.Split(body, 0)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		type result struct {
			Index   int    `json:"index"`
			Status  string `json:"status"`
			EventID string `json:"event_id"`
		}
		res := make([]result, len(items))
		mu.Lock()
		for i, it := range items {
			var id struct {
				EventID string `json:"event_id"`
			}
			_ = json.Unmarshal(it, &id)
			res[i] = result{Index: i, Status: "ok", EventID: id.EventID}
			raws = append(raws, bytes.Clone(it))
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"status": "ok", "accepted": len(items), "results": res})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	// Without a rate the generator's timeline advances 10 µs per beacon:
	// 100,000 beacons per timeline second. A heartbeat every
	// sites/15,000 seconds per site makes 15 % of them heartbeats.
	beat := time.Duration(float64(time.Second) * float64(sites) / 15_000)
	_, err := loadgen.Run(ctx, loadgen.Config{
		URL: srv.URL + "/api/rtt", Sites: sites, Rate: 0, Count: n, Batch: 100, Concurrency: 2,
		HeartbeatEvery: beat, Seed: 1,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("capturing the load generator's beacons: %w", err)
	}
	for _, raw := range raws {
		t, err := newTemplate(raw)
		if err != nil {
			return nil, err
		}
		c.templates = append(c.templates, t)
	}
	if len(c.templates) == 0 {
		return nil, fmt.Errorf("the load generator sent no beacons")
	}
	return c, nil
}

// newTemplate rewrites raw's ts to the fixed-width layout and its event_id
// to a fixed width, and records where both are.
func newTemplate(raw []byte) (template, error) {
	var b struct {
		EventID string `json:"event_id"`
		TS      string `json:"ts"`
		Site    string `json:"site"`
		Event   string `json:"event"`
	}
	if err := json.Unmarshal(raw, &b); err != nil || b.EventID == "" || b.TS == "" {
		return template{}, fmt.Errorf("captured beacon without event_id or ts: %s", raw)
	}
	idKey := []byte(`"event_id":"` + b.EventID + `"`)
	tsKey := []byte(`"ts":"` + b.TS + `"`)
	if bytes.Count(raw, idKey) != 1 || bytes.Count(raw, tsKey) != 1 {
		return template{}, fmt.Errorf("captured beacon not in canonical form: %s", raw)
	}
	out := bytes.Replace(raw, idKey, []byte(`"event_id":"`+newID(0, 0)+`"`), 1)
	out = bytes.Replace(out, tsKey, []byte(`"ts":"`+time.Unix(0, 0).UTC().Format(tsLayout)+`"`), 1)
	return template{
		raw:   out,
		idAt:  bytes.Index(out, []byte(`"event_id":"`)) + len(`"event_id":"`),
		tsAt:  bytes.Index(out, []byte(`"ts":"`)) + len(`"ts":"`),
		site:  b.Site,
		event: b.Event,
	}, nil
}

// newID is an event id of the same shape as a derived one ("b-" and 32 hex
// digits), unique per (tag, n).
func newID(tag, n uint64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], tag)
	binary.BigEndian.PutUint64(b[8:], n)
	return "b-" + hex.EncodeToString(b[:])
}

// Item is one generated beacon.
type Item struct {
	Raw     []byte
	ID      string
	Site    string
	Event   string
	Subject string // rtt.beacon.<site>.<event>, as ingest publishes it
}

// Make returns n new beacons, each with a unique event_id and the ts at
// (ts0 + i µs). They cycle through the captured mix.
func (c *Corpus) Make(n int, ts0 time.Time) []Item {
	c.mu.Lock()
	first := c.next
	c.next += uint64(n)
	c.mu.Unlock()
	items := make([]Item, n)
	for i := range items {
		t := &c.templates[(first+uint64(i))%uint64(len(c.templates))]
		raw := bytes.Clone(t.raw)
		id := newID(c.tag, first+uint64(i))
		copy(raw[t.idAt:], id)
		copy(raw[t.tsAt:], ts0.Add(time.Duration(i)*time.Microsecond).UTC().Format(tsLayout))
		items[i] = Item{Raw: raw, ID: id, Site: t.site, Event: t.event,
			Subject: "rtt.beacon." + beacon.Token(t.site) + "." + beacon.Token(t.event)}
	}
	return items
}

// MeanSize is the average payload size of the mix, in bytes.
func (c *Corpus) MeanSize() float64 {
	total := 0
	for _, t := range c.templates {
		total += len(t.raw)
	}
	return float64(total) / float64(len(c.templates))
}

// Mix counts the captured beacons per event type.
func (c *Corpus) Mix() map[string]int {
	m := map[string]int{}
	for _, t := range c.templates {
		m[t.event]++
	}
	return m
}

// Sites lists the sites that have a profile.
func (c *Corpus) Sites() []string {
	sites := make([]string, 0, len(c.profiles))
	for s := range c.profiles {
		sites = append(sites, s)
	}
	return sites
}

// body joins items into one JSON array, the body of POST /beacons.
func body(items []Item) []byte {
	n := 2
	for _, it := range items {
		n += len(it.Raw) + 1
	}
	buf := make([]byte, 0, n)
	buf = append(buf, '[')
	for i, it := range items {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, it.Raw...)
	}
	return append(buf, ']')
}
