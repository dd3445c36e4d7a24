package beacon_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/schema"
	"github.com/rtt-dev/rtt/schemas"
)

// Beacons of the load generator's mix (internal/loadgen), as the Go client
// sends them: canonical JSON with the event_id it derived.
var benchBeacons = []struct{ name, raw string }{
	{"heartbeat", `{"event":"cluster_heartbeat","event_id":"b-0c5ad3a1e2f04b8c9d6e7f8091a2b3c4","labels":{"cluster":"dc-025"},"scope":"internal://cluster","session":"dc-025-1795659469","site":"dc-025","structure":{"button_count":8,"dom_nodes":1080,"form_count":154,"main_count":11,"nav_count":30,"title":"Cluster State","url":"internal://cluster"},"ts":"2026-11-26T02:16:00.123456Z"}`},
	{"flow", `{"event":"flow_observed","event_id":"b-5f1e2d3c4b5a69788796a5b4c3d2e1f0","flows":[{"latency_ms":23.7,"path":["ingress","api","scheduler","db","db-replica"]},{"latency_ms":16.8,"path":["ingress","api","scheduler","db-replica"]}],"labels":{"cluster":"dc-118"},"scope":"internal://cluster","session":"dc-118-1795659469","site":"dc-118","structure":{"button_count":6,"dom_nodes":638,"form_count":100,"main_count":10,"nav_count":29,"title":"Cluster State","url":"internal://cluster"},"ts":"2026-11-26T02:16:00.123456Z"}`},
	{"topology", `{"event":"topology_snapshot","event_id":"b-00112233445566778899aabbccddeeff","labels":{"cluster":"dc-025"},"scope":"internal://cluster","session":"dc-025-1795659469","site":"dc-025","structure":{"button_count":8,"dom_nodes":1080,"form_count":154,"main_count":11,"nav_count":30,"title":"Cluster State","url":"internal://cluster"},"topology":{"api":["auth","payments","notifications","reports","media","cache"],"auth":["db"],"blob":[],"cache":[],"db":[],"ingress":["api"],"media":["db"],"notifications":["blob"],"payments":["queue"],"queue":[],"reports":["db"]},"ts":"2026-11-26T02:16:00.123456Z"}`},
}

// withoutID drops the event_id, so the server derives it (a client that
// does not send one, like curl).
func withoutID(raw string) string {
	i := strings.Index(raw, `"event_id":"`)
	j := i + len(`"event_id":"b-00112233445566778899aabbccddeeff",`)
	return raw[:i] + raw[j:]
}

// BenchmarkDecode is ingest's per-beacon work before the publish: parse,
// validate against the JSON Schema, decode into Beacon, parse ts, and
// derive the event id when the client sent none.
func BenchmarkDecode(b *testing.B) {
	d := newDecoder(b)
	for _, bb := range benchBeacons {
		for _, variant := range []struct {
			name string
			raw  []byte
		}{
			{bb.name, []byte(bb.raw)},
			{bb.name + "/derived-id", []byte(withoutID(bb.raw))},
		} {
			b.Run(variant.name, func(b *testing.B) {
				b.SetBytes(int64(len(variant.raw)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := d.Decode(variant.raw); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecodeParts splits BenchmarkDecode/flow into its steps, to see
// which one costs what.
func BenchmarkDecodeParts(b *testing.B) {
	raw := []byte(benchBeacons[1].raw)
	set, err := schema.Compile(schemas.JSON())
	if err != nil {
		b.Fatal(err)
	}
	doc, err := beacon.DecodeJSON(raw)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("generic-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := beacon.DecodeJSON(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("schema", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := set.Validate(schema.KindBeacon, doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("typed-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var bc beacon.Beacon
			if err := json.Unmarshal(raw, &bc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDeriveID is the content-derived event id of a decoded beacon.
func BenchmarkDeriveID(b *testing.B) {
	for _, bb := range benchBeacons {
		doc, err := beacon.DecodeJSON([]byte(withoutID(bb.raw)))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				beacon.DeriveID(doc)
			}
		})
	}
}

// BenchmarkSplit cuts a POST /beacons body of 100 beacons into items; the
// figure is per beacon.
func BenchmarkSplit(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range 100 {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(benchBeacons[i%len(benchBeacons)].raw)
	}
	buf.WriteByte(']')
	body := buf.Bytes()
	b.SetBytes(int64(len(body)) / 100)
	b.ReportAllocs()
	for b.Loop() {
		items, err := beacon.Split(body, 10000)
		if err != nil || len(items) != 100 {
			b.Fatal(err, len(items))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/beacon")
}

func TestBenchBeaconsAreValid(t *testing.T) {
	d := newDecoder(t)
	for _, bb := range benchBeacons {
		for _, raw := range []string{bb.raw, withoutID(bb.raw)} {
			if _, err := d.Decode([]byte(raw)); err != nil {
				t.Errorf("%s: %v", bb.name, err)
			}
		}
	}
	if got := withoutID(benchBeacons[0].raw); strings.Contains(got, "event_id") || !strings.HasPrefix(got, `{"event":"cluster_heartbeat","labels"`) {
		t.Errorf("withoutID: %s", got)
	}
}
