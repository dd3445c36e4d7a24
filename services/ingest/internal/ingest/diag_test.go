package ingest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/schema"
	"github.com/rtt-dev/rtt/schemas"
)

func postRaw(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// The guide's section 6 payloads get real, versioned, byte-stable answers.
func TestDiagnosticsGuideExamples(t *testing.T) {
	_, api := startIngest(t, testConfig(t, ""))
	cases := []struct{ path, body, want string }{
		{"/validate", `{"system_map":{"nodes":128,"services":["auth","api","db"]},"flows":[{"from":"api","to":"db"}],"constraints":[]}`, `"coherent":true`},
		{"/corridor", `{"flows":[{"path":["ingress","api","db"],"latency_ms":12}]}`, `"source":"none"`},
		{"/topology", `{"graph":{"auth":["api"],"api":["db"],"db":[]}}`, `"entry":["auth"]`},
		{"/validate", `{"system_map":{"services":["a","b"]},"flows":[{"from":"a","to":"b"},{"from":"b","to":"a"},{"from":"a","to":"x"}],` +
			`"constraints":[{"type":"no_cycles"},{"type":"forbid_edge","from":"a","to":"b"}]}`, `"coherent":false`},
		{"/topology", `{"graph":{"a":["b"],"b":["c"],"c":["a","d"],"d":[]}}`, `"cycles":[["a","b","c"]]`},
		{"/corridor", `{"flows":[{"path":["in","x","db"],"latency_ms":90}],"corridors":[{"name":"r","path":["in","api","db"],"budget_ms":50}]}`, `"kind":"substituted"`},
	}
	answers, err := schema.Compile(schemas.Answers())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		code, first := postRaw(t, api+tc.path, tc.body)
		doc, err := beacon.DecodeJSON([]byte(first))
		if err != nil {
			t.Fatal(err)
		}
		if err := answers.Validate(strings.TrimPrefix(tc.path, "/"), doc); err != nil {
			t.Fatalf("%s answer does not match its schema: %v\n%s", tc.path, err, first)
		}
		if code != 200 || !strings.Contains(first, `"status":"ok"`) || !strings.Contains(first, `"version":"vst-beta/1"`) || !strings.Contains(first, tc.want) {
			t.Fatalf("%s: %d %s", tc.path, code, first)
		}
		if _, again := postRaw(t, api+tc.path, tc.body); again != first {
			// Same input, same bytes.
			t.Fatalf("%s: answers differ:\n%s\n%s", tc.path, first, again)
		}
	}
}

func TestCorridorUsesSiteProfile(t *testing.T) {
	_, api := startIngest(t, testConfig(t, ""))
	profile := `{"corridors":[{"name":"read","path":["ingress","api","db"],"budget_ms":50}]}`
	if code, body := postRaw(t, api+"/profile/east", profile); code != 200 {
		t.Fatalf("profile: %d %s", code, body)
	}
	code, body := postRaw(t, api+"/corridor", `{"site":"east","flows":[{"path":["ingress","api","db"],"latency_ms":12},{"path":["ingress","cache","db"],"latency_ms":12}]}`)
	if code != 200 || !strings.Contains(body, `"source":"profile"`) || !strings.Contains(body, `"aligned":1`) || !strings.Contains(body, `"score":0.5`) {
		t.Fatalf("%d %s", code, body)
	}
}

func TestDiagnosticsRejectNamingTheField(t *testing.T) {
	_, api := startIngest(t, testConfig(t, ""))
	cases := []struct{ path, body, field string }{
		{"/validate", `{"system_map":{"services":["a"]},"flows":[{"from":"a"}]}`, "flows[0].to"},
		{"/validate", `{"system_map":{"services":["a"]},"flows":[],"constraints":[{"type":"foo"}]}`, "constraints[0].type"},
		{"/corridor", `{"flows":[{"path":["a"],"latency_ms":"fast"}]}`, "flows[0].latency_ms"},
		{"/corridor", `{"flows":[{"path":["a","b"],"latency_ms":1}],"corridors":[{"name":"x","path":["a","b"],"budget_ms":-1}]}`, "corridors[0].budget_ms"},
		{"/topology", `{"graph":{"a":"b"}}`, "graph.a"},
		{"/topology", `{}`, "graph"},
	}
	for _, tc := range cases {
		code, body := postRaw(t, api+tc.path, tc.body)
		if code != 400 || !strings.Contains(body, fmt.Sprintf(`"field":%q`, tc.field)) {
			t.Errorf("%s %s: want 400 naming %s, got %d %s", tc.path, tc.body, tc.field, code, body)
		}
	}
}
