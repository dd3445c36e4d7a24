package corridor_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/rtt-dev/rtt/pkg/batch"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/natsx/natstest"
	"github.com/rtt-dev/rtt/pkg/stage"
	"github.com/rtt-dev/rtt/services/corridor/internal/corridor"
)

// A flow beacon of the load generator's mix, as ingest stores it.
const flowBeacon = `{"event":"flow_observed","event_id":"b-5f1e2d3c4b5a69788796a5b4c3d2e1f0","flows":[{"latency_ms":23.7,"path":["ingress","api","scheduler","db","db-replica"]},{"latency_ms":16.8,"path":["ingress","api","scheduler","db-replica"]}],"labels":{"cluster":"dc-118"},"scope":"internal://cluster","session":"dc-118-1795659469","site":"dc-118","structure":{"button_count":6,"dom_nodes":638,"form_count":100,"main_count":10,"nav_count":29,"title":"Cluster State","url":"internal://cluster"},"ts":"2026-11-26T02:16:00.123456Z"}`

const profile = `{"rtt_version":"1.0","corridors":[{"name":"read","path":["ingress","api","db"],"budget_ms":50},` +
	`{"name":"sched","path":["ingress","api","scheduler","db"],"budget_ms":40},{"name":"replica","path":["ingress","api","scheduler","db-replica"],"budget_ms":20}]}`

// BenchmarkProcess is the corridor step of one stored flow beacon (two
// flows): decode, align each flow, fold it into the running score, encode
// its record.
func BenchmarkProcess(b *testing.B) {
	ns := natstest.RunServer(b)
	_, js := natstest.Connect(b, ns.ClientURL())
	ctx := context.Background()
	kv, err := natsx.ProfilesKV(ctx, js, natsx.DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := kv.Put(ctx, base64.RawURLEncoding.EncodeToString([]byte("dc-118")), []byte(profile)); err != nil {
		b.Fatal(err)
	}
	state, err := natsx.StateKV(ctx, js, "bench_corridor_state", natsx.DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	profiles, err := corridor.WatchProfiles(ctx, kv, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	p := corridor.NewProcessor(profiles, 0.2, state, "", zerolog.Nop(), prometheus.NewRegistry())
	data := []byte(flowBeacon)
	seq := uint64(1)
	b.ReportAllocs()
	for b.Loop() {
		out, err := p.Process(ctx, stage.Beacon{EventID: "b-5f1e2d3c4b5a69788796a5b4c3d2e1f0", Pos: batch.Pos(seq, 0), Data: data})
		if err != nil || len(out) != 2 {
			b.Fatalf("%d records, %v", len(out), err)
		}
		seq++
	}
}
