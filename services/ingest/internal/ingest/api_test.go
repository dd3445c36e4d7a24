package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/rtt-dev/rtt/pkg/batch"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/natsx/natstest"
	"github.com/rtt-dev/rtt/services/ingest/internal/ingest"
)

const guideBeacon = `{"site":"datacenter-east","session":"dc-1768836600","event":"cluster_heartbeat","ts":"2026-01-19T15:30:00Z",
"structure":{"url":"internal://cluster","title":"Cluster State","nav_count":0,"main_count":0,"form_count":0,"button_count":0,"dom_nodes":0}}`

func testConfig(t *testing.T, natsURL string) ingest.Config {
	var cfg ingest.Config
	fs := flagSet()
	cfg.Register(fs)
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.NATSPort = -1
	cfg.NATSURL = natsURL
	cfg.PublishTimeout = time.Second
	return cfg
}

// startIngest runs an ingest service (embedded NATS when natsURL is empty)
// and returns its API base URL.
func startIngest(t *testing.T, cfg ingest.Config) (*ingest.Service, string) {
	t.Helper()
	s := ingest.New(cfg, zerolog.Nop(), prometheus.NewRegistry(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s, "http://" + s.Addr() + ingest.BasePath
}

type answer struct {
	code int
	body map[string]any
}

func post(t *testing.T, url, ctype, body string) answer {
	t.Helper()
	resp, err := http.Post(url, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %s", resp.StatusCode, raw)
	}
	return answer{resp.StatusCode, m}
}

func TestBeaconAcceptedOnceAndStored(t *testing.T) {
	s, api := startIngest(t, testConfig(t, ""))
	first := post(t, api+"/beacon", "application/json", guideBeacon)
	if first.code != 200 || first.body["status"] != "ok" || first.body["duplicate"] != false {
		t.Fatalf("first: %d %v", first.code, first.body)
	}
	again := post(t, api+"/beacon", "application/json", guideBeacon)
	if again.code != 200 || again.body["duplicate"] != true || again.body["event_id"] != first.body["event_id"] {
		t.Fatalf("re-send: %d %v", again.code, again.body)
	}
	_, js := natstest.Connect(t, s.NATSURL())
	st, err := js.Stream(context.Background(), natsx.StreamBeacons)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1", info.State.Msgs)
	}
	msg, err := st.GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "rtt.beacon.datacenter-east.cluster_heartbeat" || msg.Header.Get("Nats-Msg-Id") != first.body["event_id"] {
		t.Fatalf("stored %s %v", msg.Subject, msg.Header)
	}
	if msg.Header.Get(natsx.HeaderReceivedAt) == "" || bytes.Contains(msg.Data, []byte("\n")) {
		t.Fatalf("stored message lacks arrival time or is not compact: %v %q", msg.Header, msg.Data)
	}
}

func TestBeaconErrors(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.MaxBodyBytes = 2048
	_, api := startIngest(t, cfg)
	cases := []struct {
		name, ctype, body string
		code              int
		want              string
	}{
		{"wrong type", "application/json", strings.Replace(guideBeacon, `"nav_count":0`, `"nav_count":"x"`, 1), 400, "structure.nav_count"},
		{"missing field", "application/json", strings.Replace(guideBeacon, `"event":"cluster_heartbeat",`, ``, 1), 400, "field:event rule:required property is missing"},
		{"not json", "application/json", `{"site":`, 400, "malformed JSON"},
		{"form post", "application/x-www-form-urlencoded", guideBeacon, 415, "application/json"},
		{"too large", "application/json", `{"site":"` + strings.Repeat("x", 4096) + `"}`, 413, "exceeds 2048 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, api+"/beacon", tc.ctype, tc.body)
			if a.code != tc.code || a.body["status"] != "error" || !strings.Contains(fmt.Sprint(a.body), tc.want) {
				t.Fatalf("got %d %v, want %d mentioning %q", a.code, a.body, tc.code, tc.want)
			}
		})
	}
	if a := post(t, api+"/nope", "application/json", "{}"); a.code != 404 {
		t.Fatalf("unknown endpoint: %d", a.code)
	}
}

func TestBatchPerItem(t *testing.T) {
	_, api := startIngest(t, testConfig(t, ""))
	second := strings.Replace(guideBeacon, `"dom_nodes":0`, `"dom_nodes":7`, 1)
	bad := strings.Replace(guideBeacon, `"ts":"2026-01-19T15:30:00Z"`, `"ts":"soon"`, 1)
	ndjson := guideBeacon + "\n" + second + "\n" + bad + "\n" + guideBeacon + "\n"
	a := post(t, api+"/beacons", "application/x-ndjson", strings.ReplaceAll(ndjson, "\n\"structure\"", "\"structure\""))
	if a.code != http.StatusMultiStatus || a.body["status"] != "partial" {
		t.Fatalf("got %d %v", a.code, a.body)
	}
	if a.body["accepted"] != 3.0 || a.body["rejected"] != 1.0 || a.body["duplicates"] != 1.0 {
		t.Fatalf("counts %v", a.body)
	}
	results := a.body["results"].([]any)
	if r := results[2].(map[string]any); r["status"] != "invalid" || !strings.Contains(fmt.Sprint(r["violations"]), "ts") {
		t.Fatalf("item 2: %v", r)
	}
	arr := "[" + guideBeacon + "," + second + "]"
	if a := post(t, api+"/beacons", "application/json", arr); a.code != 200 || a.body["status"] != "ok" {
		t.Fatalf("array: %d %v", a.code, a.body)
	}
	if a := post(t, api+"/beacons", "application/json", "["+bad+"]"); a.code != 400 {
		t.Fatalf("all invalid: %d %v", a.code, a.body)
	}
}

func TestUnavailableWhenJetStreamIsGone(t *testing.T) {
	ns := natstest.RunServer(t)
	cfg := testConfig(t, ns.ClientURL())
	cfg.PublishTimeout = 300 * time.Millisecond
	_, api := startIngest(t, cfg)
	if a := post(t, api+"/beacon", "application/json", guideBeacon); a.code != 200 {
		t.Fatalf("before: %d %v", a.code, a.body)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	a := post(t, api+"/beacon", "application/json", strings.Replace(guideBeacon, `"dom_nodes":0`, `"dom_nodes":1`, 1))
	if a.code != http.StatusServiceUnavailable || a.body["error"] != "unavailable" {
		t.Fatalf("after: %d %v", a.code, a.body)
	}
	b := post(t, api+"/beacons", "application/json", "["+guideBeacon+"]")
	if b.code != http.StatusServiceUnavailable {
		t.Fatalf("batch after: %d %v", b.code, b.body)
	}
}

func TestProfileRoundTrip(t *testing.T) {
	_, api := startIngest(t, testConfig(t, ""))
	resp, err := http.Get(api + "/profile/datacenter-east")
	if err != nil {
		t.Fatal(err)
	}
	var empty map[string]any
	json.NewDecoder(resp.Body).Decode(&empty)
	resp.Body.Close()
	if empty["site"] != "datacenter-east" || empty["profile"] != nil {
		t.Fatalf("before: %v", empty)
	}
	profile := `{"rtt_version":"1.0","supports":["coherence","drift","corridor"],"contact":"infra@datacenter.example",
	"corridors":[{"name":"checkout","path":["ingress","api","db"],"budget_ms":50}]}`
	if a := post(t, api+"/profile/datacenter-east", "application/json", profile); a.code != 200 || a.body["status"] != "ok" {
		t.Fatalf("post: %d %v", a.code, a.body)
	}
	resp, err = http.Get(api + "/profile/datacenter-east")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Site    string
		Profile map[string]any
	}
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got.Profile["contact"] != "infra@datacenter.example" {
		t.Fatalf("after: %+v", got)
	}
	bad := `{"corridors":[{"name":"x","path":["a"],"budget_ms":0}]}`
	a := post(t, api+"/profile/datacenter-east", "application/json", bad)
	if a.code != 400 || !strings.Contains(fmt.Sprint(a.body), "corridors[0].path") || !strings.Contains(fmt.Sprint(a.body), "corridors[0].budget_ms") {
		t.Fatalf("bad profile: %d %v", a.code, a.body)
	}
}

func TestTokenRequired(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.Token = "s3cret"
	_, api := startIngest(t, cfg)
	if a := post(t, api+"/beacon", "application/json", guideBeacon); a.code != 401 {
		t.Fatalf("no token: %d", a.code)
	}
	req, _ := http.NewRequest("POST", api+"/beacon", strings.NewReader(guideBeacon))
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("with token: %d", resp.StatusCode)
	}
}

// A full stream refuses new beacons (discard new): the client gets 503, and
// what was stored before stays.
func TestFullStreamAnswers503(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.Limits.BeaconMaxBytes = 2048
	_, api := startIngest(t, cfg)
	codes := map[int]int{}
	for i := range 20 {
		a := post(t, api+"/beacon", "application/json", strings.Replace(guideBeacon, `"dom_nodes":0`, fmt.Sprintf(`"dom_nodes":%d`, i), 1))
		codes[a.code]++
		if a.code == http.StatusServiceUnavailable && !strings.Contains(fmt.Sprint(a.body["message"]), "retry") {
			t.Fatalf("503 without advice: %v", a.body)
		}
	}
	if codes[200] == 0 || codes[503] == 0 || codes[200]+codes[503] != 20 {
		t.Fatalf("answers %v: want some stored, then 503 once full", codes)
	}
}

func TestMetricsExposeBeaconsByCluster(t *testing.T) {
	s, api := startIngest(t, testConfig(t, ""))
	labelled := strings.Replace(guideBeacon, `"site"`, `"labels":{"cluster":"east"},"site"`, 1)
	if a := post(t, api+"/beacon", "application/json", labelled); a.code != 200 {
		t.Fatalf("%d %v", a.code, a.body)
	}
	post(t, api+"/beacon", "application/json", `{"site":1}`)
	resp, err := http.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`rtt_beacons_total{cluster="east"} 1`,
		`rtt_beacons_rejected_total{reason="invalid"} 1`,
		`rtt_stream_messages{stream="RTT_BEACONS"} 1`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A batch far larger than the window of outstanding publishes waits for
// room instead of failing items.
func TestBatchLargerThanPublishWindow(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.PublishWindow = 16
	_, api := startIngest(t, cfg)
	var b strings.Builder
	for i := range 3000 {
		b.WriteString(strings.Replace(guideBeacon, `"dom_nodes":0`, fmt.Sprintf(`"dom_nodes":%d`, i), 1))
		b.WriteByte('\n')
	}
	a := post(t, api+"/beacons", "application/x-ndjson", strings.ReplaceAll(b.String(), "\n\"structure\"", "\"structure\""))
	if a.code != 200 || a.body["accepted"] != 3000.0 {
		t.Fatalf("%d accepted=%v unavailable=%v", a.code, a.body["accepted"], a.body["unavailable"])
	}
}

// A request's beacons are stored in as few messages as the limits allow:
// at most batch.MaxItems beacons and the server's largest payload each.
func TestBatchSplitsIntoMessagesWithinLimits(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		MaxPayload: 512 << 10, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	_, js := natstest.Connect(t, ns.ClientURL())
	_, api := startIngest(t, testConfig(t, ns.ClientURL()))

	// 1,500 small beacons: two messages by count.
	var items []string
	for i := range 1500 {
		items = append(items, strings.Replace(guideBeacon, `"dom_nodes":0`, fmt.Sprintf(`"dom_nodes":%d`, i), 1))
	}
	if a := post(t, api+"/beacons", "application/json", "["+strings.Join(items, ",")+"]"); a.code != 200 || a.body["accepted"] != 1500.0 {
		t.Fatalf("count split: %d %v", a.code, a.body["status"])
	}
	// 1,400 beacons of about 750 bytes: about 1 MB, split by size.
	items = items[:0]
	long := strings.Repeat("x", 500)
	for i := range 1400 {
		b := strings.Replace(guideBeacon, `"dom_nodes":0`, fmt.Sprintf(`"dom_nodes":%d`, i), 1)
		items = append(items, strings.Replace(b, `"Cluster State"`, `"`+long+`"`, 1))
	}
	if a := post(t, api+"/beacons", "application/json", "["+strings.Join(items, ",")+"]"); a.code != 200 || a.body["accepted"] != 1400.0 {
		t.Fatalf("size split: %d %v", a.code, a.body["status"])
	}

	s, err := js.Stream(context.Background(), natsx.StreamBeacons)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.OrderedConsumer(context.Background(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var counts []int
	for m := range b.Messages() {
		if len(m.Data()) > 512<<10 {
			t.Errorf("message of %d bytes, over the server's limit", len(m.Data()))
		}
		items, err := batch.Items(m.Subject(), m.Headers(), m.Data())
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, len(items))
	}
	if len(counts) < 4 || counts[0] != batch.MaxItems || counts[1] != 1500-batch.MaxItems {
		t.Fatalf("beacons per message %v: want 1024 and 476, then the 1,400 large ones in at least 2", counts)
	}
	sum := 0
	for _, c := range counts[2:] {
		sum += c
	}
	if sum != 1400 {
		t.Fatalf("large beacons stored %d, want 1400", sum)
	}
}
