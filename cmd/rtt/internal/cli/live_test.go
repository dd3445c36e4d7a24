package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/chx/chxtest"
	"github.com/rtt-dev/rtt/test/stacktest"
)

// TestMain builds the services for the live tests, which run "rtt beacon"
// and "rtt check" against a real stack (ingest with its NATS, drift,
// corridor, sink) around a private ClickHouse, started by stacktest.
func TestMain(m *testing.M) { os.Exit(stacktest.Main(m, "../../../..")) }

// run runs the rtt command line and returns its exit code, outputs and
// duration.
func run(args ...string) (code int, stdout, stderr string, took time.Duration) {
	var out, errOut bytes.Buffer
	start := time.Now()
	code = Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String(), time.Since(start)
}

var eventID = regexp.MustCompile(`^b-[0-9a-f]{32}$`)

func TestLive(t *testing.T) {
	conn, db := chxtest.NewConn(t)
	st := stacktest.StartStack(t, db)
	t.Setenv("RTT_URL", "")
	t.Setenv("RTT_TOKEN", "")
	closed := fmt.Sprintf("http://127.0.0.1:%d/api/rtt", stacktest.FreePort(t))

	t.Run("beacon stored once", func(t *testing.T) {
		args := []string{"beacon", "--url-base", st.API, "--site", "ci-east", "--event", "deployment_start",
			"--session", "gh-4711", "--ts", "2026-01-19T15:30:00Z", "--label", "commit=abc123", "--label", "service=api"}
		code, stdout, stderr, _ := run(args...)
		id := strings.TrimSpace(stdout)
		if code != 0 || !eventID.MatchString(id) {
			t.Fatalf("exit %d, stdout %q, want an event id\nstderr: %s", code, stdout, stderr)
		}
		code, stdout, stderr, _ = run(args...)
		if code != 0 || stdout != id+" duplicate\n" {
			t.Fatalf("re-send: exit %d, stdout %q, want %q\nstderr: %s", code, stdout, id+" duplicate\n", stderr)
		}
		code, stdout, _, _ = run(append(args, "--quiet")...)
		if code != 0 || stdout != "" {
			t.Fatalf("--quiet: exit %d, stdout %q", code, stdout)
		}

		// The finish beacon, from a whole payload with a topology and flows.
		dir := t.TempDir()
		payload := filepath.Join(dir, "finish.json")
		os.WriteFile(payload, []byte(`{"site":"ci-east","session":"gh-4711","event":"deployment_finish","ts":"2026-01-19T15:34:00Z",
			"labels":{"commit":"abc123"},"structure":{"url":"internal://cluster","title":"Cluster State","nav_count":0,
			"main_count":3,"form_count":0,"button_count":0,"dom_nodes":128}}`), 0o644)
		flows := filepath.Join(dir, "flows.json")
		os.WriteFile(flows, []byte(`[{"path":["ingress","api","db"],"latency_ms":12}]`), 0o644)
		topo := filepath.Join(dir, "topology.json")
		os.WriteFile(topo, []byte(`{"ingress":["api"],"api":["db"],"db":[]}`), 0o644)
		code, stdout, stderr, _ = run("beacon", "--url-base", st.API, "--json", payload, "--label", "result=success",
			"--topology-file", topo, "--flows-file", flows, "--event-id", "gh-4711-1-finish")
		if code != 0 || stdout != "gh-4711-1-finish\n" {
			t.Fatalf("finish: exit %d, stdout %q\nstderr: %s", code, stdout, stderr)
		}

		// Both reach ClickHouse, each once.
		stacktest.WaitFor(t, 15*time.Second, func() error {
			rows, err := conn.Query(context.Background(), "SELECT event, count(), any(label_values), any(topology_edges), any(flow_count) FROM "+db+
				".beacons FINAL WHERE event_id IN ('"+id+"', 'gh-4711-1-finish') GROUP BY event ORDER BY event")
			if err != nil {
				return err
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var event string
				var n uint64
				var labels []string
				var edges, flows uint32
				if err := rows.Scan(&event, &n, &labels, &edges, &flows); err != nil {
					return err
				}
				got = append(got, fmt.Sprintf("%s n=%d labels=%v edges=%d flows=%d", event, n, labels, edges, flows))
			}
			want := []string{"deployment_finish n=1 labels=[abc123 success] edges=2 flows=1", "deployment_start n=1 labels=[abc123 api] edges=0 flows=0"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("ClickHouse holds %q, want %q", got, want)
			}
			return nil
		})
	})

	t.Run("beacon refused", func(t *testing.T) {
		code, stdout, stderr, _ := run("beacon", "--url-base", st.API, "--site", "ci-east", "--event", "deployment_start",
			"--nav-count", "-1", "--event-id", "not an id")
		if code != 1 || stdout != "" {
			t.Fatalf("exit %d, stdout %q, want 1 and nothing\nstderr: %s", code, stdout, stderr)
		}
		for _, want := range []string{"rtt beacon: server refused the beacon (400 invalid):\n", "\n  structure.nav_count: ", "\n  event_id: "} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
	})

	t.Run("beacon usage errors", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"--event", "deployment_start"}, "--site is required"},
			{[]string{"--site", "s"}, "--event is required"},
			{[]string{"--site", "s", "--event", "e", "--ts", "yesterday"}, `--ts: "yesterday" is not an RFC 3339 date-time`},
			{[]string{"--site", "s", "--event", "e", "--label", "cluster"}, `invalid value "cluster" for flag -label: want key=value`},
			{[]string{"--site", "s", "--event", "e", "--flows-file", "/nonexistent/flows.json"}, "--flows-file: open /nonexistent/flows.json"},
			{[]string{"--site", "s", "--event", "e", "--addr", "x"}, "flag provided but not defined: -addr"},
		} {
			code, stdout, stderr, _ := run(append([]string{"beacon", "--url-base", st.API}, tt.args...)...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tt.want) {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", tt.args, code, stdout, stderr, tt.want)
			}
		}
	})

	t.Run("beacon unreachable", func(t *testing.T) {
		code, stdout, stderr, took := run("beacon", "--url-base", closed, "--site", "s", "--event", "e",
			"--attempts", "2", "--timeout", "2s")
		if code != 3 || stdout != "" || !strings.Contains(stderr, "connection refused") || !strings.Contains(stderr, "not stored") {
			t.Fatalf("exit %d, stdout %q, want 3\nstderr: %s", code, stdout, stderr)
		}
		if took > 2*time.Second {
			t.Errorf("took %v", took)
		}
	})

	t.Run("check passes", func(t *testing.T) {
		code, stdout, stderr, took := run("check", "--url-base", st.API)
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != 7 || lines[6] != "all 6 checks passed" {
			t.Fatalf("stdout:\n%s", stdout)
		}
		for i, item := range []string{"RTTClient configured", "cluster-level beacons accepted", "profile registered",
			"observability receives RTT signals", "topology and flow payloads accepted", "diagnostics answer stably"} {
			if !strings.HasPrefix(lines[i], "PASS  "+item+": ") {
				t.Errorf("line %d: %q, want PASS %s", i, lines[i], item)
			}
		}
		if !strings.Contains(stdout, "re-send was answered duplicate") || !strings.Contains(stdout, `rtt_beacons_total{cluster="rtt-check"} went from 0 to 1`) {
			t.Errorf("stdout:\n%s", stdout)
		}
		if took > 5*time.Second {
			t.Errorf("took %v, want under 5s", took)
		}
		// A second run passes too: the counter grows again, the profile is
		// replaced, the diagnostics still answer the same bytes.
		if code, stdout, stderr, _ := run("check", "--url-base", st.API); code != 0 {
			t.Fatalf("second run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})

	t.Run("check against a wrong URL", func(t *testing.T) {
		code, stdout, stderr, took := run("check", "--url-base", closed)
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if code != 1 || len(lines) != 6 || stderr != "rtt check: 6 of 6 checks failed\n" {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, "FAIL  ") {
				t.Errorf("%q is not a FAIL", l)
			}
		}
		if !strings.Contains(lines[0], "connection refused") || !strings.Contains(lines[1], "not tried") ||
			!strings.Contains(lines[3], "/metrics") {
			t.Errorf("reasons:\n%s", stdout)
		}
		if took > 2*time.Second {
			t.Errorf("took %v", took)
		}
	})

	t.Run("check without metrics", func(t *testing.T) {
		host := strings.TrimSuffix(st.API, "/api/rtt")
		code, stdout, stderr, _ := run("check", "--url-base", st.API, "--metrics", host+"/healthz")
		if code != 1 || stderr != "rtt check: 1 of 6 checks failed\n" {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		want := "FAIL  observability receives RTT signals: no rtt_beacons_total at " + host + "/healthz"
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
		code, stdout, _, _ = run("check", "--url-base", st.API, "--metrics", host+"/nometrics")
		if code != 1 || !strings.Contains(stdout, "FAIL  observability receives RTT signals: GET "+host+"/nometrics: 404 Not Found") {
			t.Errorf("exit %d\nstdout:\n%s", code, stdout)
		}
	})
}
