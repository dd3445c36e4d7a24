package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/chx/chxtest"
	"github.com/rtt-dev/rtt/test/stacktest"
)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m, "../..")) }

const (
	sites         = 20
	perSite       = 500 // 10,000 beacons in all
	singlePerSite = 50  // the first 50 of each site go one by one
)

// changed are the sites whose structure steps up halfway through.
var changed = map[int]bool{3: true, 7: true, 11: true}

// offPath and overBudget are the sites whose flows leave their corridor.
var (
	offPath    = 5
	overBudget = 9
)

func siteName(s int) string { return fmt.Sprintf("dc-%02d", s) }

// beacon returns the i-th beacon of site s: a heartbeat, or every tenth a
// flow observation, with a structure that steps up halfway for the changed
// sites.
func beacon(s, i int) string {
	nodes, services := 400+10*s, 12
	if changed[s] && i >= perSite/2 {
		nodes, services = nodes*3/2, services+4
	}
	ts := time.Date(2026, 1, 19, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * 5 * time.Second).Format(time.RFC3339)
	event, flows := "cluster_heartbeat", ""
	if i%10 == 9 {
		event = "flow_observed"
		path, latency := `["ingress","api","db"]`, 12.5
		if s == offPath {
			path = `["ingress","cache","db"]`
		}
		if s == overBudget {
			latency = 180
		}
		flows = fmt.Sprintf(`,"flows":[{"path":%s,"latency_ms":%g}]`, path, latency)
	}
	return fmt.Sprintf(`{"site":%q,"session":"s-%d","event":%q,"ts":%q,"labels":{"cluster":%q}%s,`+
		`"structure":{"url":"internal://cluster","title":"Cluster State","nav_count":4,"main_count":%d,"form_count":2,"button_count":3,"dom_nodes":%d}}`,
		siteName(s), s, event, ts, siteName(s), flows, services, nodes)
}

// invalid returns the k-th invalid beacon and the field its error must name.
func invalid(k int) (string, string) {
	good := beacon(0, 0)
	switch k % 5 {
	case 0:
		return strings.Replace(good, `"nav_count":4`, `"nav_count":"four"`, 1), "structure.nav_count"
	case 1:
		return strings.Replace(good, `"ts":"2026-01-19T10:00:00Z"`, `"ts":"not a time"`, 1), "ts"
	case 2:
		return strings.Replace(good, `"site":"dc-00",`, ``, 1), "site"
	case 3:
		return strings.Replace(good, `"dom_nodes":400`, `"dom_nodes":-400`, 1), "structure.dom_nodes"
	default:
		return strings.Replace(good, `"title":"Cluster State"`, `"title":"`+strings.Repeat("t", 600)+`"`, 1), "structure.title"
	}
}

func postJSON(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s answered %d with non-JSON %q", url, resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

func TestPipeline(t *testing.T) {
	conn, db := chxtest.NewConn(t)
	st := stacktest.StartStack(t, db)
	ctx := context.Background()

	for s := range sites {
		profile := `{"rtt_version":"1.0","supports":["coherence","drift","corridor"],"contact":"infra@example.org",` +
			`"corridors":[{"name":"read","path":["ingress","api","db"],"budget_ms":50}]}`
		if code, ans := postJSON(t, st.API+"/profile/"+siteName(s), profile); code != 200 {
			t.Fatalf("profile %d: %v", code, ans)
		}
	}

	// Phase 1: one by one, with 25 invalid ones interleaved.
	accepted := map[string]bool{}
	var ids []string
	for i := range singlePerSite {
		for s := range sites {
			code, ans := postJSON(t, st.API+"/beacon", beacon(s, i))
			if code != 200 || ans["duplicate"] != false {
				t.Fatalf("beacon %d/%d: %d %v", s, i, code, ans)
			}
			id := ans["event_id"].(string)
			accepted[id] = true
			ids = append(ids, id)
		}
		if i < 25 {
			body, field := invalid(i)
			code, ans := postJSON(t, st.API+"/beacon", body)
			if code != 400 || !strings.Contains(fmt.Sprint(ans["violations"]), "field:"+field+" ") {
				t.Fatalf("invalid %d: want 400 naming %s, got %d %v", i, field, code, ans)
			}
		}
	}

	// The sink dies abruptly mid-run; the stream keeps everything meanwhile.
	st.Sink.Kill()

	// Phase 2: batches of 500, with the other 25 invalid ones and 100
	// exact re-sends of phase 1's beacons mixed in. A re-sent beacon inside
	// another batch is stored again in the stream (a batch is recognised as
	// a whole) and collapses by its event id in ClickHouse.
	var batch []string
	invalidLeft, resends := 25, 0
	var firstBody string
	var firstAccepted, firstRejected float64
	send := func() {
		body := "[" + strings.Join(batch, ",") + "]"
		code, ans := postJSON(t, st.API+"/beacons", body)
		if code != 200 && code != 207 {
			t.Fatalf("batch: %d %v", code, ans)
		}
		if firstBody == "" {
			firstBody, firstAccepted, firstRejected = body, ans["accepted"].(float64), ans["rejected"].(float64)
		}
		for _, r := range ans["results"].([]any) {
			item := r.(map[string]any)
			switch item["status"] {
			case "ok":
				accepted[item["event_id"].(string)] = true
			case "invalid":
				if item["violations"] == nil {
					t.Fatalf("invalid item without violations: %v", item)
				}
			default:
				t.Fatalf("item %v", item)
			}
		}
		batch = batch[:0]
	}
	restarted := false
	for i := singlePerSite; i < perSite; i++ {
		for s := range sites {
			batch = append(batch, beacon(s, i))
		}
		if invalidLeft > 0 && i%4 == 0 {
			body, _ := invalid(invalidLeft)
			batch = append(batch, body)
			invalidLeft--
		}
		if resends < 100 && i%2 == 0 {
			batch = append(batch, beacon(resends%sites, resends/sites)) // accepted in phase 1
			resends++
		}
		if len(batch) >= 500 {
			send()
		}
		if !restarted && i == perSite/2 {
			st.RestartSink(t)
			restarted = true
		}
	}
	if len(batch) > 0 {
		send()
	}
	if invalidLeft != 0 || resends != 100 {
		t.Fatalf("scenario incomplete: %d invalid left, %d re-sends", invalidLeft, resends)
	}
	// A request sent again as it was (a client retrying) is recognised by
	// the stream: every beacon of it is a duplicate.
	if code, ans := postJSON(t, st.API+"/beacons", firstBody); code != 207 || ans["duplicates"] != firstAccepted || ans["accepted"] != firstAccepted {
		t.Fatalf("re-sent batch: %d, %v duplicates of %v accepted, want all %v", code, ans["duplicates"], ans["accepted"], firstAccepted)
	}
	if len(accepted) != sites*perSite {
		t.Fatalf("accepted %d distinct beacons, want %d", len(accepted), sites*perSite)
	}

	count := func(q string) uint64 {
		var n uint64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	stacktest.WaitFor(t, 90*time.Second, func() error {
		if n := count("SELECT count() FROM " + db + ".beacons FINAL"); n != sites*perSite {
			return fmt.Errorf("rtt.beacons FINAL holds %d rows, want %d", n, sites*perSite)
		}
		return nil
	})
	if n := count("SELECT uniqExact(event_id) FROM " + db + ".beacons"); n != sites*perSite {
		t.Fatalf("distinct event ids %d", n)
	}
	if n := count("SELECT count() FROM " + db + ".beacons WHERE site = '' OR nav_count != 4"); n != 0 {
		t.Fatalf("%d rows from invalid beacons reached ClickHouse", n)
	}
	if n := count("SELECT count() FROM " + db + ".profiles FINAL"); n != sites {
		t.Fatalf("profiles %d", n)
	}

	// Drift: exactly one event for each changed site, none elsewhere.
	stacktest.WaitFor(t, 30*time.Second, func() error {
		rows, err := conn.Query(ctx, "SELECT site, count() FROM "+db+".drift_events FINAL GROUP BY site ORDER BY site")
		if err != nil {
			return err
		}
		defer rows.Close()
		got := map[string]uint64{}
		for rows.Next() {
			var site string
			var n uint64
			if err := rows.Scan(&site, &n); err != nil {
				return err
			}
			got[site] = n
		}
		want := map[string]uint64{}
		for s := range changed {
			want[siteName(s)] = 1
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("drift events per site %v, want %v", got, want)
		}
		return nil
	})

	// Corridors: one record per flow; misaligned exactly where the flows
	// left their corridor.
	flows := uint64(sites * perSite / 10)
	stacktest.WaitFor(t, 30*time.Second, func() error {
		if n := count("SELECT count() FROM " + db + ".alignments FINAL"); n != flows {
			return fmt.Errorf("alignment records %d, want %d", n, flows)
		}
		return nil
	})
	rows, err := conn.Query(ctx, "SELECT site, path_match, within_budget, count() FROM "+db+".alignments FINAL WHERE on_corridor = 0 GROUP BY site, path_match, within_budget")
	if err != nil {
		t.Fatal(err)
	}
	var off []string
	for rows.Next() {
		var site string
		var pathMatch, within uint8
		var n uint64
		if err := rows.Scan(&site, &pathMatch, &within, &n); err != nil {
			t.Fatal(err)
		}
		off = append(off, fmt.Sprintf("%s path_match=%d within_budget=%d n=%d", site, pathMatch, within, n))
	}
	rows.Close()
	sort.Strings(off)
	want := []string{
		fmt.Sprintf("%s path_match=0 within_budget=1 n=%d", siteName(offPath), perSite/10),
		fmt.Sprintf("%s path_match=1 within_budget=0 n=%d", siteName(overBudget), perSite/10),
	}
	if fmt.Sprint(off) != fmt.Sprint(want) {
		t.Fatalf("misaligned records %v, want %v", off, want)
	}
	_ = ids

	// Every service's /metrics shows the series operators plug in.
	metrics := func(p *stacktest.Proc) string {
		resp, err := http.Get("http://" + p.Ready["ops"] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return string(raw)
	}
	for _, c := range []struct {
		p    *stacktest.Proc
		want []string
	}{
		// dc-00's 500 beacons and 5 of the re-sends (the re-sent batch's
		// duplicates are counted apart).
		{st.Ingest, []string{`rtt_beacons_total{cluster="dc-00"} 505`,
			fmt.Sprintf(`rtt_beacons_rejected_total{reason="invalid"} %d`, 50+int(firstRejected)),
			fmt.Sprintf("rtt_beacons_duplicate_total %d", int(firstAccepted))}},
		{st.Drift, []string{`rtt_drift_events_total{cluster="dc-03"} 1`, `rtt_consumer_pending{consumer="drift",stream="RTT_BEACONS"} 0`}},
		{st.Corridor, []string{`rtt_corridor_alignments_total{outcome="off_path"} 50`, `rtt_corridor_alignments_total{outcome="over_budget"} 50`}},
		{st.Sink, []string{`rtt_sink_rows_total{table="beacons"}`, `rtt_sink_insert_seconds_count{table="beacons"}`}},
	} {
		got := metrics(c.p)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("metrics lack %s", w)
			}
		}
	}
}
