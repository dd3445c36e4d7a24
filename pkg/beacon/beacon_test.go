package beacon_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/schema"
	"github.com/rtt-dev/rtt/schemas"
)

func newDecoder(t testing.TB) *beacon.Decoder {
	t.Helper()
	set, err := schema.Compile(schemas.JSON())
	if err != nil {
		t.Fatal(err)
	}
	return beacon.NewDecoder(set)
}

// guideBeacon is the beacon of section 3 of the user guide.
const guideBeacon = `{
    "site": "datacenter-east",
    "session": "dc-1768836600",
    "event": "cluster_heartbeat",
    "ts": "2026-01-19T15:30:00Z",
    "structure": {
        "url": "internal://cluster",
        "title": "Cluster State",
        "nav_count": 0,
        "main_count": 0,
        "form_count": 0,
        "button_count": 0,
        "dom_nodes": 0
    }
}`

func TestDecodeGuideBeacon(t *testing.T) {
	b, err := newDecoder(t).Decode([]byte(guideBeacon))
	if err != nil {
		t.Fatal(err)
	}
	if b.Site != "datacenter-east" || b.Event != "cluster_heartbeat" || b.KeyScope() != "internal://cluster" {
		t.Fatalf("decoded %+v", b)
	}
	if !strings.HasPrefix(b.EventID, "b-") || len(b.EventID) != 34 {
		t.Fatalf("derived id %q", b.EventID)
	}
	if got := b.Time.Format("2006-01-02T15:04:05Z07:00"); got != "2026-01-19T15:30:00Z" {
		t.Fatalf("time %s", got)
	}
	if b.Subject() != "rtt.beacon.datacenter-east.cluster_heartbeat" {
		t.Fatalf("subject %s", b.Subject())
	}
}

func TestDerivedIDIgnoresFormatting(t *testing.T) {
	d := newDecoder(t)
	a, err := d.Decode([]byte(guideBeacon))
	if err != nil {
		t.Fatal(err)
	}
	reordered := `{"ts":"2026-01-19T15:30:00Z","event":"cluster_heartbeat","session":"dc-1768836600","site":"datacenter-east",
	"structure":{"dom_nodes":0,"button_count":0,"form_count":0,"main_count":0,"nav_count":0,"title":"Cluster State","url":"internal://cluster"}}`
	b, err := d.Decode([]byte(reordered))
	if err != nil {
		t.Fatal(err)
	}
	if a.EventID != b.EventID {
		t.Fatalf("same content, different ids: %s %s", a.EventID, b.EventID)
	}
	changed := strings.Replace(guideBeacon, `"dom_nodes": 0`, `"dom_nodes": 1`, 1)
	c, err := d.Decode([]byte(changed))
	if err != nil {
		t.Fatal(err)
	}
	if c.EventID == a.EventID {
		t.Fatal("different content, same id")
	}
}

func TestClientEventIDKept(t *testing.T) {
	raw := strings.Replace(guideBeacon, `"site"`, `"event_id": "deploy-42:start", "site"`, 1)
	b, err := newDecoder(t).Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if b.EventID != "deploy-42:start" {
		t.Fatalf("event id %q", b.EventID)
	}
}

func TestDecodeRejects(t *testing.T) {
	long := strings.Repeat("x", 600)
	cases := []struct {
		name, from, to string
		field, rule    string
	}{
		{"wrong type", `"nav_count": 0`, `"nav_count": "zero"`, "structure.nav_count", "got string, want integer"},
		{"negative count", `"dom_nodes": 0`, `"dom_nodes": -1`, "structure.dom_nodes", "minimum"},
		{"fractional count", `"dom_nodes": 0`, `"dom_nodes": 1.5`, "structure.dom_nodes", "want integer"},
		{"missing site", `"site": "datacenter-east",`, ``, "site", "required property is missing"},
		{"missing structure field", `"title": "Cluster State",`, ``, "structure.title", "required property is missing"},
		{"empty site", `"site": "datacenter-east"`, `"site": ""`, "site", "minLength"},
		{"oversized title", `"title": "Cluster State"`, `"title": "` + long + `"`, "structure.title", "maxLength"},
		{"bad ts", `"ts": "2026-01-19T15:30:00Z"`, `"ts": "yesterday"`, "ts", "date-time"},
		{"ts out of range", `"ts": "2026-01-19T15:30:00Z"`, `"ts": "1900-01-01T00:00:00Z"`, "ts", "must lie between"},
		{"bad event id", `"site"`, `"event_id": "a b", "site"`, "event_id", "pattern"},
		{"flows not array", `"site"`, `"flows": {}, "site"`, "flows", "got object, want array"},
		{"flow latency", `"site"`, `"flows": [{"path": ["a","b"], "latency_ms": -3}], "site"`, "flows[0].latency_ms", "minimum"},
		{"oversized array", `"site"`, `"flows": [` + strings.TrimSuffix(strings.Repeat(`{"path":["a"],"latency_ms":1},`, 1001), ",") + `], "site"`, "flows", "maxItems"},
		{"topology deps", `"site"`, `"topology": {"api": "db"}, "site"`, "topology.api", "got string, want array"},
		{"malformed", `}`, ``, "", "malformed JSON"},
		{"trailing", `"dom_nodes": 0`, `"dom_nodes": 0}}{`, "", "malformed JSON"},
	}
	d := newDecoder(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := strings.Replace(guideBeacon, tc.from, tc.to, 1)
			_, err := d.Decode([]byte(raw))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, beacon.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			var ie *beacon.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T", err)
			}
			found := false
			for _, v := range ie.Violations {
				if v.Field == tc.field && strings.Contains(v.Rule, tc.rule) {
					found = true
				}
			}
			if !found {
				t.Fatalf("want field %q rule ~%q, got %v", tc.field, tc.rule, ie.Violations)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	items, err := beacon.Split([]byte("[{\"a\":1},{\"b\":2}]"), 10)
	if err != nil || len(items) != 2 || string(items[1]) != `{"b":2}` {
		t.Fatalf("array: %v %q", err, items)
	}
	items, err = beacon.Split([]byte("{\"a\":1}\n\n{oops\n{\"c\":3}\n"), 10)
	if err != nil || len(items) != 3 || string(items[1]) != `{oops` {
		t.Fatalf("ndjson: %v %q", err, items)
	}
	for _, body := range []string{"", "  ", "[]", "[{\"a\":1},"} {
		if _, err := beacon.Split([]byte(body), 10); !errors.Is(err, beacon.ErrInvalid) {
			t.Fatalf("%q: err %v", body, err)
		}
	}
	if _, err := beacon.Split([]byte("{}\n{}\n{}"), 2); err == nil || !strings.Contains(err.Error(), "exceeds the limit of 2") {
		t.Fatalf("limit: %v", err)
	}
}

func TestToken(t *testing.T) {
	for in, want := range map[string]string{
		"datacenter-east": "datacenter-east", "a.b*c>d e": "a_b_c_d_e", "": "_",
		strings.Repeat("z", 70): strings.Repeat("z", 64),
	} {
		if got := beacon.Token(in); got != want {
			t.Errorf("Token(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(guideBeacon))
	f.Add([]byte(`{"site":1}`))
	f.Add([]byte(`[`))
	d := newDecoder(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := d.Decode(raw)
		if err != nil {
			if !errors.Is(err, beacon.ErrInvalid) {
				t.Fatalf("non-input error %v", err)
			}
			return
		}
		if b.EventID == "" || b.Site == "" || b.Event == "" {
			t.Fatalf("accepted beacon without id, site or event: %+v", b)
		}
	})
}

func TestMaxSkewRejectsFutureTimestamps(t *testing.T) {
	now := time.Date(2026, 1, 19, 15, 0, 0, 0, time.UTC)
	d := newDecoder(t).WithMaxSkew(time.Hour, func() time.Time { return now })
	if _, err := d.Decode([]byte(guideBeacon)); err != nil { // 30 minutes ahead
		t.Fatalf("within the skew: %v", err)
	}
	ahead := strings.Replace(guideBeacon, "2026-01-19T15:30:00Z", "2026-01-19T17:00:00Z", 1)
	_, err := d.Decode([]byte(ahead))
	var ie *beacon.InvalidError
	if !errors.As(err, &ie) || ie.Violations[0].Field != "ts" || !strings.Contains(ie.Violations[0].Rule, "2h0m0s ahead") {
		t.Fatalf("err %v", err)
	}
	past := strings.Replace(guideBeacon, "2026-01-19T15:30:00Z", "2001-01-19T17:00:00Z", 1)
	if _, err := d.Decode([]byte(past)); err != nil {
		t.Fatalf("old beacons (replays, backfills) stay welcome: %v", err)
	}
}

// splitSeeds are JSON array bodies around what the item cutter must get
// right: strings holding brackets, commas, quotes and escapes, nesting,
// whitespace anywhere.
var splitSeeds = []string{
	`[]`, `[ ]`, "[\n]", `[{}]`, `[1,2,3]`, ` [ {"a":1} , {"b":[1,2,{"c":"]"}]} ] `,
	`[{"s":"a,b]c}d{e[f"},{"t":"\"quoted\" \\ back\\\\"}]`, `["\\\"", "x\\\\", "]"]`,
	"[\t{\"a\" : [ 1 , 2 ] }\r\n,\n{ \"b\" : null } ]", `[[],[[]],{"a":{}}]`, `[true,false,null,-1.5e3,"é😀"]`,
	`[{"x":"\u005d\u002c"}]`, guideBeaconArray(),
}

func guideBeaconArray() string { return "[" + guideBeacon + ",\n" + guideBeacon + "]" }

func checkSplitMatchesUnmarshal(t *testing.T, body []byte) {
	var want []json.RawMessage
	werr := json.Unmarshal(bytes.TrimSpace(body), &want)
	got, gerr := beacon.Split(body, 0)
	if werr != nil {
		if gerr == nil {
			t.Fatalf("%q: Split accepted what encoding/json refuses (%v)", body, werr)
		}
		return
	}
	if len(want) == 0 {
		if gerr == nil {
			t.Fatalf("%q: an empty array must be refused", body)
		}
		return
	}
	if gerr != nil {
		t.Fatalf("%q: Split: %v", body, gerr)
	}
	if len(got) != len(want) {
		t.Fatalf("%q: %d items, encoding/json %d", body, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%q: item %d is %q, encoding/json %q", body, i, got[i], want[i])
		}
	}
}

func TestSplitMatchesUnmarshal(t *testing.T) {
	for _, s := range splitSeeds {
		checkSplitMatchesUnmarshal(t, []byte(s))
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range splitSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(bytes.TrimSpace(body)) == 0 || bytes.TrimSpace(body)[0] != '[' {
			return // NDJSON: cut by lines, not compared here
		}
		checkSplitMatchesUnmarshal(t, body)
	})
}
