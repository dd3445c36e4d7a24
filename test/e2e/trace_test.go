package e2e

import (
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/rtt-dev/rtt/pkg/chx/chxtest"
	"github.com/rtt-dev/rtt/test/stacktest"
)

// collector is an OTLP/HTTP trace receiver: what the services export to.
type collector struct {
	mu    sync.Mutex
	spans map[string]*span // by span id
}

type span struct {
	service, name, traceID, parentID string
	attrs                            map[string]string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = gz
	}
	raw, _ := io.ReadAll(body)
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, a := range rs.Resource.GetAttributes() {
			if a.Key == "service.name" {
				service = a.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				c.spans[fmt.Sprintf("%x", sp.SpanId)] = &span{
					service: service, name: sp.Name,
					traceID: fmt.Sprintf("%x", sp.TraceId), parentID: fmt.Sprintf("%x", sp.ParentSpanId),
					attrs: attrs(sp),
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Write(out)
}

func attrs(sp *tracepb.Span) map[string]string {
	m := map[string]string{}
	for _, a := range sp.Attributes {
		m[a.Key] = a.Value.GetStringValue()
	}
	return m
}

// One beacon's trace: the ingest request span, and under it the drift,
// corridor and sink spans, the alignment record's insert under the corridor
// span; its ClickHouse rows carry the trace id.
func TestOneTraceFromIngestToClickHouse(t *testing.T) {
	c := &collector{spans: map[string]*span{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: c}
	go srv.Serve(ln)
	defer srv.Close()
	conn, db := chxtest.NewConn(t)
	st := stacktest.StartStack(t, db,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+ln.Addr().String(),
		"OTEL_EXPORTER_OTLP_COMPRESSION=none",
		"OTEL_BSP_SCHEDULE_DELAY=100",
	)
	body := `{"event_id":"trace-1","site":"traced","session":"s","event":"flow_observed","ts":"2026-01-19T10:00:00Z",` +
		`"flows":[{"path":["ingress","api","db"],"latency_ms":3}],` +
		`"structure":{"url":"internal://cluster","title":"t","nav_count":1,"main_count":1,"form_count":1,"button_count":1,"dom_nodes":1}}`
	req, _ := http.NewRequest("POST", st.API+"/beacon", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	// The caller's own trace continues through rtt.
	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req.Header.Set("traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("beacon: %d", resp.StatusCode)
	}

	var ingestID string
	stacktest.WaitFor(t, 30*time.Second, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		byName := map[string][]*span{}
		for id, s := range c.spans {
			if s.traceID != callerTrace {
				continue
			}
			byName[s.service+"/"+s.name] = append(byName[s.service+"/"+s.name], s)
			if s.service == "rtt-ingest" {
				ingestID = id
			}
		}
		in := byName["rtt-ingest/POST /api/rtt/beacon"]
		if len(in) != 1 || in[0].parentID != "00f067aa0ba902b7" || in[0].attrs["rtt.event_id"] != "trace-1" || in[0].attrs["rtt.site"] != "traced" {
			return fmt.Errorf("ingest span %+v (all: %v)", in, keys(byName))
		}
		for _, name := range []string{"rtt-drift/drift process", "rtt-corridor/corridor process"} {
			s := byName[name]
			if len(s) != 1 || s[0].parentID != ingestID || s[0].attrs["rtt.site"] != "traced" {
				return fmt.Errorf("%s: %+v", name, s)
			}
		}
		// Two sink inserts: the beacon (child of ingest) and its alignment
		// record (child of the corridor span).
		sinks := byName["rtt-sink/sink insert"]
		if len(sinks) != 2 {
			all := map[string]int{}
			for _, s := range c.spans {
				all[s.service+"/"+s.name+"/"+s.traceID]++
			}
			return fmt.Errorf("sink spans %d (all: %v)", len(sinks), all)
		}
		parents := map[string]bool{}
		for _, s := range sinks {
			if p := c.spans[s.parentID]; p != nil {
				parents[p.service] = true
			}
		}
		if !parents["rtt-ingest"] || !parents["rtt-corridor"] {
			return fmt.Errorf("sink span parents %v", parents)
		}
		return nil
	})
	for _, table := range []string{"beacons", "alignments"} {
		var trace string
		if err := conn.QueryRow(t.Context(), "SELECT trace_id FROM "+db+"."+table+" FINAL WHERE site = 'traced'").Scan(&trace); err != nil {
			t.Fatal(err)
		}
		if trace != callerTrace {
			t.Fatalf("%s row trace_id %q", table, trace)
		}
	}
}

func keys(m map[string][]*span) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
