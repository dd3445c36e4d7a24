package grafana

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtt-dev/rtt/internal/loadgen"
	"github.com/rtt-dev/rtt/pkg/chx/chxtest"
	"github.com/rtt-dev/rtt/pkg/client"
	"github.com/rtt-dev/rtt/test/stacktest"
)

// The load generator run behind the dashboard test: ten sites, three of
// which change structure halfway, so that every table a panel reads has rows
// spread over several seconds.
var load = loadgen.Config{
	Sites:          10,
	Rate:           2000,
	Count:          6000,
	Batch:          200,
	Concurrency:    1, // in order, so that each changed site drifts once
	HeartbeatEvery: 100 * time.Millisecond,
	ChangeSites:    []string{"dc-02", "dc-05", "dc-08"},
	ChangeAt:       1500 * time.Millisecond,
	Seed:           7,
}

// pipelineData is what loadData leaves behind: a connection to a database
// filled by the real pipeline, whose default database it is (as the Grafana
// datasource's defaultDatabase makes rtt the default), and the load
// generator's totals.
type pipelineData struct {
	conn  driver.Conn
	stats loadgen.Stats
}

// loadData starts the four services around a fresh database, drives them with
// the load generator, adds what the generator does not send (diagnostics
// submissions and one poison message for the dead letters) and waits until
// every table a dashboard reads holds all the rows the run implies.
func loadData(t *testing.T) pipelineData {
	t.Helper()
	conn, db := chxtest.NewConn(t)
	st := stacktest.StartStack(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cfg := load
	cfg.URL = st.API
	cfg.Start = time.Now().UTC().Truncate(time.Millisecond)
	stats, err := loadgen.Run(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Accepted != int64(cfg.Count) || len(stats.Changes) != len(cfg.ChangeSites) {
		t.Fatalf("load generator: %s", stats.Summary())
	}
	d := pipelineData{conn: conn, stats: stats}

	c := client.New(st.API)
	for i, site := range []string{"dc-00", "dc-01", "dc-02"} {
		validate := map[string]any{
			"site":        site,
			"system_map":  map[string]any{"nodes": 10, "services": []string{"ingress", "api", "db"}},
			"flows":       []map[string]string{{"from": "ingress", "to": "api"}, {"from": "api", "to": "db"}, {"from": "api", "to": fmt.Sprint("svc-", i)}},
			"constraints": []map[string]any{{"type": "no_cycles"}},
		}
		if _, err := c.Validate(ctx, validate); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Topology(ctx, map[string]any{"site": site, "graph": map[string][]string{"ingress": {"api"}, "api": {"db"}, "db": {}}}); err != nil {
			t.Fatal(err)
		}
	}

	// A message no service can read: drift, corridor and the sink each send it
	// to the dead letters, which the sink writes to rtt.dead_letters.
	nc, err := nats.Connect(st.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "rtt.beacon.dc-00.poison", []byte(`{"site":"dc-00","ts":"never"}`)); err != nil {
		t.Fatal(err)
	}

	// Every row the run implies, so that the expectations of the panels hold:
	// the beacons, one alignment per flow they carry, one snapshot per
	// topology_snapshot beacon, the diagnostics and the three dead letters.
	want := []struct {
		table string
		want  uint64
	}{
		{"beacons", uint64(cfg.Count)},
		{"profiles", uint64(cfg.Sites)},
		{"drift_events", uint64(len(cfg.ChangeSites))},
		{"alignments", 0}, // the sum of the beacons' flow counts, read below
		{"topology_snapshots", uint64(stats.Events[loadgen.EventTopology])},
		{"diagnostics", 6},
		{"dead_letters", 3}, // from drift, corridor and the sink
	}
	count := func(q string) (uint64, error) {
		var n uint64
		err := conn.QueryRow(ctx, q).Scan(&n)
		return n, err
	}
	stacktest.WaitFor(t, 40*time.Second, func() error {
		var missing []string
		for _, w := range want {
			n, err := count("SELECT count() FROM " + w.table + " FINAL")
			if err != nil {
				return err
			}
			expected := w.want
			if w.table == "alignments" {
				flows, err := count("SELECT sum(flow_count) FROM beacons FINAL")
				if err != nil {
					return err
				}
				expected = max(flows, 1)
			}
			if n < expected {
				missing = append(missing, fmt.Sprintf("%s has %d rows, want %d", w.table, n, expected))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("waiting for the pipeline: %v", missing)
		}
		return nil
	})
	return d
}
