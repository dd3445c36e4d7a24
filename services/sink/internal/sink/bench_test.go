package sink_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/services/sink/internal/sink"
)

// Beacons of the load generator's mix as ingest stores them, with the
// headers ingest sets.
var benchMessages = []struct{ name, subject, data string }{
	{"heartbeat", "rtt.beacon.dc-025.cluster_heartbeat", `{"event":"cluster_heartbeat","event_id":"b-0c5ad3a1e2f04b8c9d6e7f8091a2b3c4","labels":{"cluster":"dc-025"},"scope":"internal://cluster","session":"dc-025-1795659469","site":"dc-025","structure":{"button_count":8,"dom_nodes":1080,"form_count":154,"main_count":11,"nav_count":30,"title":"Cluster State","url":"internal://cluster"},"ts":"2026-11-26T02:16:00.123456Z"}`},
	{"flow", "rtt.beacon.dc-118.flow_observed", `{"event":"flow_observed","event_id":"b-5f1e2d3c4b5a69788796a5b4c3d2e1f0","flows":[{"latency_ms":23.7,"path":["ingress","api","scheduler","db","db-replica"]},{"latency_ms":16.8,"path":["ingress","api","scheduler","db-replica"]}],"labels":{"cluster":"dc-118"},"scope":"internal://cluster","session":"dc-118-1795659469","site":"dc-118","structure":{"button_count":6,"dom_nodes":638,"form_count":100,"main_count":10,"nav_count":29,"title":"Cluster State","url":"internal://cluster"},"ts":"2026-11-26T02:16:00.123456Z"}`},
	{"topology", "rtt.beacon.dc-025.topology_snapshot", `{"event":"topology_snapshot","event_id":"b-00112233445566778899aabbccddeeff","labels":{"cluster":"dc-025"},"scope":"internal://cluster","session":"dc-025-1795659469","site":"dc-025","structure":{"button_count":8,"dom_nodes":1080,"form_count":154,"main_count":11,"nav_count":30,"title":"Cluster State","url":"internal://cluster"},"topology":{"api":["auth","payments","notifications","reports","media","cache"],"auth":["db"],"blob":[],"cache":[],"db":[],"ingress":["api"],"media":["db"],"notifications":["blob"],"payments":["queue"],"queue":[],"reports":["db"]},"ts":"2026-11-26T02:16:00.123456Z"}`},
}

// BenchmarkRows is the sink's row encoding of one stored beacon: decode the
// payload and build the values of its beacons row (and topology row).
func BenchmarkRows(b *testing.B) {
	for _, bm := range benchMessages {
		h := nats.Header{}
		h.Set(nats.MsgIdHdr, "b-0c5ad3a1e2f04b8c9d6e7f8091a2b3c4")
		h.Set(natsx.HeaderEventID, "b-0c5ad3a1e2f04b8c9d6e7f8091a2b3c4")
		h.Set(natsx.HeaderReceivedAt, time.Date(2026, 11, 26, 2, 16, 0, 123456789, time.UTC).Format(time.RFC3339Nano))
		h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		m := sink.Message{Subject: bm.subject, Header: h, Data: []byte(bm.data), Seq: 42}
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(m.Data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := sink.Rows(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
