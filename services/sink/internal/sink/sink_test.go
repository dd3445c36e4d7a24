package sink_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/rtt-dev/rtt/pkg/chx"
	"github.com/rtt-dev/rtt/pkg/chx/chserver"
	"github.com/rtt-dev/rtt/pkg/chx/chxtest"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/natsx/natstest"
	"github.com/rtt-dev/rtt/services/sink/internal/sink"
)

func TestMain(m *testing.M) { os.Exit(chxtest.Run(m)) }

func beaconJSON(site string, i int) string {
	return fmt.Sprintf(`{"site":%q,"session":"s","event":"cluster_heartbeat","ts":"2026-01-19T15:30:%02d.250Z",`+
		`"labels":{"cluster":"east","zone":"a"},"topology":{"api":["db"],"db":[]},`+
		`"structure":{"url":"internal://cluster","title":"Cluster State","nav_count":1,"main_count":2,"form_count":3,"button_count":4,"dom_nodes":%d}}`,
		site, i%60, 100+i)
}

func publishBeacon(t *testing.T, js jetstream.JetStream, id, body string) {
	t.Helper()
	m := nats.NewMsg("rtt.beacon.east.cluster_heartbeat")
	m.Data = []byte(body)
	m.Header.Set(nats.MsgIdHdr, id)
	m.Header.Set(natsx.HeaderEventID, id)
	m.Header.Set(natsx.HeaderReceivedAt, time.Now().UTC().Format(time.RFC3339Nano))
	m.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func config(natsURL, chAddr, db string) sink.Config {
	var cfg sink.Config
	cfg.Register(flag.NewFlagSet("t", flag.ContinueOnError))
	cfg.Addr = "127.0.0.1:0"
	cfg.NATSURL = natsURL
	cfg.ClickHouse = chx.Config{Addr: chAddr, Database: db}
	cfg.BatchSize = 100
	cfg.BatchAge = 50 * time.Millisecond
	cfg.RetryBackoff = 50 * time.Millisecond
	return cfg
}

// runSink starts a sink and returns a stop function that cancels it and
// waits until it has flushed and stopped.
func runSink(t *testing.T, cfg sink.Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := sink.New(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), prometheus.NewRegistry(), nil)
	if err := s.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		sctx, c := context.WithTimeout(context.Background(), 30*time.Second)
		defer c()
		if err := s.Shutdown(sctx); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func count(t *testing.T, conn driver.Conn, query string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitFor polls fn every 50ms until it returns nil or total elapses.
func waitFor(t *testing.T, total time.Duration, fn func() error) {
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
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBeaconsLandOnceAndPoisonIsDeadLettered(t *testing.T) {
	ns := natstest.RunServer(t)
	_, js := natstest.Connect(t, ns.ClientURL())
	conn, db := chxtest.NewConn(t)
	for i := range 50 {
		publishBeacon(t, js, fmt.Sprintf("b-%d", i), beaconJSON("east", i))
	}
	// The same event ids again, beyond JetStream's dedup (different msg ids
	// would be needed to pass it, so republish with a suffix-free id after
	// purging the dedup window is not possible here): publish copies under
	// new Nats-Msg-Ids but the same event id header, as a redelivery would.
	for i := range 10 {
		m := nats.NewMsg("rtt.beacon.east.cluster_heartbeat")
		m.Data = []byte(beaconJSON("east", i))
		m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("copy-%d", i))
		m.Header.Set(natsx.HeaderEventID, fmt.Sprintf("b-%d", i))
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	publishBeacon(t, js, "poison-1", `{"site": "east", "ts": 12}`)
	runSink(t, config(ns.ClientURL(), chxtest.Addr(t), db))

	waitFor(t, 20*time.Second, func() error {
		if n := count(t, conn, "SELECT count() FROM "+db+".dead_letters FINAL"); n != 1 {
			return fmt.Errorf("dead letters: %d", n)
		}
		if n := count(t, conn, "SELECT count() FROM "+db+".beacons FINAL"); n != 50 {
			return fmt.Errorf("beacons FINAL: %d", n)
		}
		if n := count(t, conn, "SELECT count() FROM "+db+".topology_snapshots FINAL"); n != 50 {
			return fmt.Errorf("topology snapshots %d", n)
		}
		return nil
	})
	if n := count(t, conn, "SELECT uniqExact(event_id) FROM "+db+".beacons"); n != 50 {
		t.Fatalf("distinct beacons %d", n)
	}
	var site, trace, reason string
	var labels []string
	var edges uint32
	row := conn.QueryRow(context.Background(), "SELECT site, trace_id, label_keys, topology_edges FROM "+db+".beacons FINAL WHERE event_id = 'b-30'")
	if err := row.Scan(&site, &trace, &labels, &edges); err != nil {
		t.Fatal(err)
	}
	if site != "east" || trace != "4bf92f3577b34da6a3ce929d0e0e4736" || strings.Join(labels, ",") != "cluster,zone" || edges != 1 {
		t.Fatalf("row: %s %s %v %d", site, trace, labels, edges)
	}
	if err := conn.QueryRow(context.Background(), "SELECT reason FROM "+db+".dead_letters").Scan(&reason); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(reason, "beacon payload") {
		t.Fatalf("reason %q", reason)
	}
}

func TestClickHouseOutageLosesNothing(t *testing.T) {
	ns := natstest.RunServer(t)
	_, js := natstest.Connect(t, ns.ClientURL())
	dir := t.TempDir()
	ctx := context.Background()
	srv, err := chserver.Start(ctx, chserver.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	runSink(t, config(ns.ClientURL(), srv.Addr(), "rtt"))
	for i := range 100 {
		publishBeacon(t, js, fmt.Sprintf("b-%d", i), beaconJSON("east", i))
	}
	conn, err := chx.Open(ctx, chx.Config{Addr: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() error {
		if n := count(t, conn, "SELECT count() FROM rtt.beacons FINAL"); n != 100 {
			return fmt.Errorf("before outage: %d", n)
		}
		return nil
	})
	conn.Close()
	tcp, httpPort := portOf(t, srv.Addr()), portOf(t, srv.HTTPAddr())
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := 100; i < 300; i++ {
		publishBeacon(t, js, fmt.Sprintf("b-%d", i), beaconJSON("east", i))
	}
	time.Sleep(time.Second) // the sink fails and retries meanwhile
	srv, err = chserver.Start(ctx, chserver.Options{Dir: dir, TCPPort: tcp, HTTPPort: httpPort})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	conn, err = chx.Open(ctx, chx.Config{Addr: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitFor(t, 30*time.Second, func() error {
		if n := count(t, conn, "SELECT count() FROM rtt.beacons FINAL"); n != 300 {
			return fmt.Errorf("after outage: %d", n)
		}
		return nil
	})
}

func portOf(t *testing.T, addr string) int {
	var p int
	if _, err := fmt.Sscanf(addr[strings.LastIndex(addr, ":")+1:], "%d", &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRetentionDropsOnlyExpiredPartitions(t *testing.T) {
	ns := natstest.RunServer(t)
	_, js := natstest.Connect(t, ns.ClientURL())
	conn, db := chxtest.NewConn(t)
	old := strings.Replace(beaconJSON("east", 1), "2026-01-19", "2025-06-01", 1)
	publishBeacon(t, js, "old", old)
	publishBeacon(t, js, "new", beaconJSON("east", 2))
	runSink(t, config(ns.ClientURL(), chxtest.Addr(t), db))
	waitFor(t, 20*time.Second, func() error {
		if n := count(t, conn, "SELECT count() FROM "+db+".beacons FINAL"); n != 2 {
			return fmt.Errorf("beacons %d", n)
		}
		if n := count(t, conn, "SELECT count() FROM "+db+".topology_snapshots FINAL"); n != 2 {
			return fmt.Errorf("topology snapshots %d", n)
		}
		return nil
	})
	now := time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)
	dropped, err := sink.DropExpired(context.Background(), conn, db, 30*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(dropped, ",") != "beacons/20250601,topology_snapshots/20250601" {
		t.Fatalf("dropped %v", dropped)
	}
	var id string
	if err := conn.QueryRow(context.Background(), "SELECT event_id FROM "+db+".beacons FINAL").Scan(&id); err != nil || id != "new" {
		t.Fatalf("left %q %v", id, err)
	}
}
