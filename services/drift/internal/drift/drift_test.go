package drift_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/rtt-dev/rtt/pkg/derived"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/natsx/natstest"
	"github.com/rtt-dev/rtt/services/drift/internal/drift"
)

func publish(t *testing.T, js jetstream.JetStream, site string, i, nodes int) {
	t.Helper()
	m := nats.NewMsg("rtt.beacon." + site + ".cluster_heartbeat")
	m.Data = []byte(fmt.Sprintf(`{"site":%q,"session":"s","event":"cluster_heartbeat","ts":"2026-01-19T10:%02d:%02dZ",`+
		`"structure":{"url":"internal://cluster","title":"c","nav_count":1,"main_count":5,"form_count":1,"button_count":1,"dom_nodes":%d}}`,
		site, i/60, i%60, nodes))
	id := fmt.Sprintf("%s-%d", site, i)
	m.Header.Set(nats.MsgIdHdr, id)
	m.Header.Set(natsx.HeaderEventID, id)
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// run starts a drift service and returns a function that stops it cleanly.
func run(t *testing.T, url string) func() {
	t.Helper()
	var cfg drift.Config
	cfg.Register(flag.NewFlagSet("t", flag.ContinueOnError))
	cfg.Addr, cfg.NATSURL, cfg.BatchAge = "127.0.0.1:0", url, 20*time.Millisecond
	s, err := drift.New(cfg, zerolog.Nop(), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return func() {
		cancel()
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}
}

func driftEvents(t *testing.T, js jetstream.JetStream) []derived.Drift {
	t.Helper()
	st, err := js.Stream(context.Background(), natsx.StreamDerived)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(context.Background())
	var out []derived.Drift
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(context.Background(), seq)
		if err != nil {
			continue
		}
		var d derived.Drift
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func waitProcessed(t *testing.T, js jetstream.JetStream, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := js.Consumer(context.Background(), natsx.StreamBeacons, "drift")
		if err == nil {
			info, err := c.Info(context.Background())
			if err == nil && info.AckFloor.Stream >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("drift did not acknowledge %d beacons in time", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The baseline learnt before a restart is what the change after it is
// measured against: state survives the restart.
func TestDriftStateSurvivesRestart(t *testing.T) {
	ns := natstest.RunServer(t)
	_, js := natstest.Connect(t, ns.ClientURL())
	stop := run(t, ns.ClientURL())
	for i := range 20 {
		publish(t, js, "east", i, 400)
		publish(t, js, "west", i, 300)
	}
	waitProcessed(t, js, 40)
	stop()
	if evs := driftEvents(t, js); len(evs) != 0 {
		t.Fatalf("steady structure drifted: %+v", evs)
	}
	// East's structure steps up while drift is down; a restarted drift that
	// had lost its baseline would take the new structure as normal.
	for i := 20; i < 30; i++ {
		publish(t, js, "east", i, 600)
		publish(t, js, "west", i, 300)
	}
	stop = run(t, ns.ClientURL())
	defer stop()
	waitProcessed(t, js, 60)
	var evs []derived.Drift
	deadline := time.Now().Add(5 * time.Second)
	for len(evs) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		evs = driftEvents(t, js)
	}
	if len(evs) != 1 || evs[0].Site != "east" || evs[0].Observed[4] != 600 || evs[0].Baseline[4] != 400 || evs[0].EventID != "east-21" {
		t.Fatalf("drift events %+v", evs)
	}
}

// A beacon that cannot be read goes to the dead letters, not into a retry
// loop, and the beacons after it are processed.
func TestPoisonBeaconIsDeadLettered(t *testing.T) {
	ns := natstest.RunServer(t)
	_, js := natstest.Connect(t, ns.ClientURL())
	defer run(t, ns.ClientURL())()
	m := nats.NewMsg("rtt.beacon.east.x")
	m.Data = []byte(`{"site":"east","ts":"never"}`)
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "east", 1, 400)
	waitProcessed(t, js, 2)
	st, _ := js.Stream(context.Background(), natsx.StreamDLQ)
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 1 {
		t.Fatalf("dead letters %d", info.State.Msgs)
	}
	dl, _ := st.GetMsg(context.Background(), info.State.FirstSeq)
	if dl.Subject != "rtt.dlq.drift" || dl.Header.Get(natsx.HeaderReason) == "" || dl.Header.Get(natsx.HeaderSubject) != "rtt.beacon.east.x" {
		t.Fatalf("dead letter %s %v", dl.Subject, dl.Header)
	}
}
