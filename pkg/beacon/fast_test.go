package beacon_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/rtt-dev/rtt/pkg/beacon"
)

// fastSeeds are payloads around every rule of the beacon schema: valid ones
// the fast path should take, and borderline or invalid ones it must leave
// to the schema.
func fastSeeds() []string {
	g := guideBeacon
	rep := func(from, to string) string { return strings.Replace(g, from, to, 1) }
	add := func(extra string) string { return rep(`"site"`, extra+`, "site"`) }
	var out []string
	out = append(out, g, `{"site":1}`, `[`, ``, ` `, `null`, `{}`, `[]`, `"x"`, g+" \n", g+"x", " \t"+g, "\ufeff"+g)
	for _, bb := range benchBeacons {
		out = append(out, bb.raw, withoutID(bb.raw))
	}
	// From TestDecodeRejects.
	long := strings.Repeat("x", 600)
	out = append(out,
		rep(`"nav_count": 0`, `"nav_count": "zero"`), rep(`"dom_nodes": 0`, `"dom_nodes": -1`),
		rep(`"dom_nodes": 0`, `"dom_nodes": 1.5`), rep(`"site": "datacenter-east",`, ``),
		rep(`"title": "Cluster State",`, ``), rep(`"site": "datacenter-east"`, `"site": ""`),
		rep(`"title": "Cluster State"`, `"title": "`+long+`"`), rep(`"ts": "2026-01-19T15:30:00Z"`, `"ts": "yesterday"`),
		rep(`"ts": "2026-01-19T15:30:00Z"`, `"ts": "1900-01-01T00:00:00Z"`), add(`"event_id": "a b"`),
		add(`"flows": {}`), add(`"flows": [{"path": ["a","b"], "latency_ms": -3}]`),
		add(`"flows": [`+strings.TrimSuffix(strings.Repeat(`{"path":["a"],"latency_ms":1},`, 1001), ",")+`]`),
		add(`"flows": [`+strings.TrimSuffix(strings.Repeat(`{"path":["a"],"latency_ms":1},`, 1000), ",")+`]`),
		add(`"topology": {"api": "db"}`), rep(`}`, ``), rep(`"dom_nodes": 0`, `"dom_nodes": 0}}{`),
	)
	// Counts.
	for _, v := range []string{"0", "1", "00", "01", "-0", "1.0", "1e2", "1E0", "0.0", "2147483647", "2147483648", "21474836470", "99999999999", "-1", "null", "true", `"1"`, "[]", "{}", "1.", ".5", "+1"} {
		out = append(out, rep(`"dom_nodes": 0`, `"dom_nodes": `+v))
	}
	// Strings: lengths in code points, escapes, control characters, bad UTF-8.
	for _, v := range []string{
		strings.Repeat("é", 128), strings.Repeat("é", 129), strings.Repeat("x", 128), strings.Repeat("x", 129),
		strings.Repeat("😀", 128), strings.Repeat("😀", 129), `a\"b`, `a\\b`, `a\u00e9`, `a\/b`, `\ud800`, "a\tb",
		"a\x01", "a\xffb", "a\xc3", "\u2028", "<&>", `a\nb`,
	} {
		out = append(out, rep(`"datacenter-east"`, `"`+v+`"`), rep(`"Cluster State"`, `"`+v+`"`), add(`"scope": "`+v+`"`))
	}
	out = append(out, rep(`"dc-1768836600"`, `""`), rep(`"cluster_heartbeat"`, `""`),
		rep(`"cluster_heartbeat"`, `"`+strings.Repeat("e", 64)+`"`), rep(`"cluster_heartbeat"`, `"`+strings.Repeat("e", 65)+`"`),
		rep(`"internal://cluster"`, `"`+strings.Repeat("u", 2048)+`"`), rep(`"internal://cluster"`, `"`+strings.Repeat("u", 2049)+`"`),
		rep(`"internal://cluster"`, `"`+strings.Repeat("ü", 2048)+`"`), rep(`"internal://cluster"`, `"`+strings.Repeat("ü", 2049)+`"`))
	// Event ids.
	for _, v := range []string{"", "a", "A-z_0.9:x", "a b", "a\n", "é", strings.Repeat("i", 128), strings.Repeat("i", 129), "a$", "^a", `a\n`, "1"} {
		out = append(out, add(`"event_id": "`+v+`"`))
	}
	out = append(out, add(`"event_id": null`), add(`"event_id": 1`), add(`"event_id": "a", "event_id": "b"`))
	// Timestamps.
	for _, v := range []string{
		"2026-01-19T15:30:00Z", "2026-01-19t15:30:00Z", "2026-01-19T15:30:00z", "2026-01-19 15:30:00Z",
		"2026-01-19T15:30:00.123456789Z", "2026-01-19T15:30:00.Z", "2026-01-19T15:30:00+01:00", "2026-01-19T15:30:00-23:59",
		"2026-01-19T15:30:00+24:00", "2026-01-19T15:30:00+01:60", "2026-01-19T15:30:00+0100", "2026-01-19T23:59:60Z",
		"2026-01-19T15:59:60Z", "2026-01-19T23:59:60+01:00", "2026-01-19T22:59:60-01:00", "2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z",
		"2026-13-01T00:00:00Z", "2026-01-32T00:00:00Z", "2026-1-19T15:30:00Z", "2026-01-19T24:00:00Z", "2026-01-19T15:60:00Z",
		"+2026-01-19T15:30:00Z", "2026-01-19T15:30:00.1234567890123456789012345678901234567890123456789012345Z",
		"1970-01-01T00:00:00Z", "1970-01-02T00:00:00Z", "2105-12-31T00:00:00Z", "2105-12-31T00:00:01Z", "0000-01-01T00:00:00Z",
		"2026-01-19T15:30:00+1:00", "2026-01-19T15:30:00+-1:00", "2026-01-19T15:30:00", "2026-01-19T1:30:00Z",
	} {
		out = append(out, rep(`"2026-01-19T15:30:00Z"`, `"`+v+`"`))
	}
	// Keys: case folding, duplicates, nulls, unknown properties.
	out = append(out,
		add(`"Site": "x"`), add(`"SITE": "x"`), add(`"ſite": "x"`), add(`"site": "x"`), add(`"sitE": 1`),
		rep(`"url"`, `"URL": "x", "url"`), rep(`"url"`, `"url": "x", "url"`), rep(`"url"`, `"extra": {"a":[1,2,{"b":null}]}, "url"`),
		rep(`"url"`, `"dom_Nodes": 5, "url"`), rep(`"url"`, `"\u0075rl": "x", "url"`), add(`"\u0073ite": "x"`),
		add(`"scope": null`), add(`"labels": null`), add(`"topology": null`), add(`"flows": null`), add(`"structure": {}`),
		add(`"x": null`), add(`"x": [1, 2.5e-3, -0, true, false, null, "s", {}, []]`), add(`"x": 01`), add(`"x": [1,]`),
		add(`"x": {"a":1,}`), add(`"x": tru`), add(`"x": "\ud800"`), add(`"x": 1e999`), add(`"x": -`),
		add(`"x": `+strings.Repeat("[", 100)+strings.Repeat("]", 100)), add(`"x": `+strings.Repeat("[", 10001)+strings.Repeat("]", 10001)),
		add(`"structure": {"url":"","title":"","nav_count":0,"main_count":0,"form_count":0,"button_count":0,"dom_nodes":0}`),
		add(`"scope": "a", "scope": "b"`), `{"site":"s","session":"","event":"e","ts":"2026-01-19T15:30:00Z","structure":{"url":"","title":"","nav_count":0,"main_count":0,"form_count":0,"button_count":0,"dom_nodes":0}}`,
	)
	// Labels.
	var l64, l65 []string
	for i := range 65 {
		if i < 64 {
			l64 = append(l64, fmt.Sprintf(`"k%d":"v"`, i))
		}
		l65 = append(l65, fmt.Sprintf(`"k%d":"v"`, i))
	}
	out = append(out, add(`"labels": {`+strings.Join(l64, ",")+`}`), add(`"labels": {`+strings.Join(l65, ",")+`}`),
		add(`"labels": {}`), add(`"labels": {"a": 1}`), add(`"labels": {"a": null}`), add(`"labels": {"a": "x", "a": "y"}`),
		add(`"labels": {"": ""}`), add(`"labels": {"`+strings.Repeat("é", 128)+`": "`+strings.Repeat("é", 512)+`"}`),
		add(`"labels": {"`+strings.Repeat("é", 129)+`": "v"}`), add(`"labels": {"k": "`+strings.Repeat("é", 513)+`"}`),
		add(`"labels": []`), add(`"labels": "x"`), add(`"labels": {"A": "1", "a": "2"}`))
	// Topology.
	deps := func(n int) string { return `["` + strings.TrimSuffix(strings.Repeat(`d","`, n), `","`) + `"]` }
	out = append(out, add(`"topology": {}`), add(`"topology": {"a": []}`), add(`"topology": {"": []}`),
		add(`"topology": {"a": [""]}`), add(`"topology": {"a": [null]}`), add(`"topology": {"a": null}`),
		add(`"topology": {"a": `+deps(1024)+`}`), add(`"topology": {"a": `+deps(1025)+`}`),
		add(`"topology": {"a": ["b"], "a": ["c"]}`), add(`"topology": {"`+strings.Repeat("n", 257)+`": []}`),
		add(`"topology": {"a": ["`+strings.Repeat("ñ", 256)+`"]}`), add(`"topology": {"a": ["`+strings.Repeat("ñ", 257)+`"]}`),
		add(`"topology": {"a": {}}`), add(`"topology": []`))
	// Flows.
	for _, f := range []string{
		`{"path":["a"],"latency_ms":0}`, `{"path":["a"],"latency_ms":-0}`, `{"path":["a"],"latency_ms":86400000}`,
		`{"path":["a"],"latency_ms":86399999.99999999}`, `{"path":["a"],"latency_ms":86400000.000000001}`,
		`{"path":["a"],"latency_ms":8.64e7}`, `{"path":["a"],"latency_ms":1e-400}`, `{"path":["a"],"latency_ms":1e400}`,
		`{"path":["a"],"latency_ms":"1"}`, `{"path":["a"],"latency_ms":null}`, `{"path":[],"latency_ms":1}`,
		`{"path":[""],"latency_ms":1}`, `{"path":["a"]}`, `{"latency_ms":1}`, `{"path":["a"],"latency_ms":1,"corridor":"c"}`,
		`{"path":["a"],"latency_ms":1,"corridor":null}`, `{"path":["a"],"latency_ms":1,"corridor":""}`,
		`{"path":["a"],"latency_ms":1,"Corridor":"c"}`, `{"path":["a"],"latency_ms":1,"x":{"y":[]}}`,
		`{"path":["a"],"latency_ms":1,"path":["b"]}`, `{"path":` + deps(64) + `,"latency_ms":1}`, `{"path":` + deps(65) + `,"latency_ms":1}`,
		`{"path":["a"],"latency_ms":1,"corridor":"` + strings.Repeat("c", 129) + `"}`, `{"path":"a","latency_ms":1}`, `null`, `[]`, `1`,
		`{"path":["a"],"latency_ms":1.5E+3}`, `{"path":["a"],"latency_ms":0.0000001}`,
	} {
		out = append(out, add(`"flows": [`+f+`]`))
	}
	out = append(out, add(`"flows": []`))
	return out
}

// decodeBoth runs raw through Decode with and without the fast path and
// fails unless they agree on everything.
func decodeBoth(t *testing.T, fast, slow *beacon.Decoder, raw []byte) {
	t.Helper()
	bf, errF := fast.Decode(raw)
	bs, errS := slow.Decode(raw)
	if (errF == nil) != (errS == nil) {
		t.Fatalf("fast err %v, slow err %v\ninput %q", errF, errS, raw)
	}
	if errF != nil {
		if errF.Error() != errS.Error() || reflect.TypeOf(errF) != reflect.TypeOf(errS) {
			t.Fatalf("errors differ:\nfast %v\nslow %v\ninput %q", errF, errS, raw)
		}
		return
	}
	if !reflect.DeepEqual(bf, bs) {
		t.Fatalf("beacons differ:\nfast %#v\nslow %#v\ninput %q", bf, bs, raw)
	}
}

func FuzzFastPathMatchesSchema(f *testing.F) {
	for _, s := range fastSeeds() {
		f.Add([]byte(s))
	}
	fast := newDecoder(f)
	slow := fast.SlowOnly()
	f.Fuzz(func(t *testing.T, raw []byte) {
		decodeBoth(t, fast, slow, raw)
	})
}

// TestFastPathTaken checks that the fast path does take ordinary valid
// beacons (the fuzz test alone would also pass if it never did).
func TestFastPathTaken(t *testing.T) {
	raws := []string{guideBeacon}
	for _, bb := range benchBeacons {
		raws = append(raws, bb.raw, withoutID(bb.raw))
	}
	for _, raw := range raws {
		if _, ok := beacon.FastDecode([]byte(raw)); !ok {
			t.Errorf("fast path declined %s", raw)
		}
	}
	fast := newDecoder(t)
	slow := fast.SlowOnly()
	taken := 0
	for _, s := range fastSeeds() {
		if _, ok := beacon.FastDecode([]byte(s)); ok {
			taken++
		}
		decodeBoth(t, fast, slow, []byte(s))
	}
	t.Logf("fast path took %d of %d seeds", taken, len(fastSeeds()))
}

// FromStoredCountingFlows gives FromStored's beacon but for the flows, which
// it counts, on every seed either of them accepts.
func TestFromStoredCountingFlowsMatchesFromStored(t *testing.T) {
	seeds := fastSeeds()
	seeds = append(seeds, `{"site":"s","session":"x","event":"e","ts":"2026-01-19T15:30:00Z","flows":[{"path":["a"],"latency_ms":1},{"path":["a","b"],"latency_ms":2,"x":{"y":[1,{}]}}],`+
		`"structure":{"url":"u","title":"t","nav_count":1,"main_count":2,"form_count":3,"button_count":4,"dom_nodes":5}}`)
	agreed := 0
	for _, s := range seeds {
		want, werr := beacon.FromStored([]byte(s))
		got, n, gerr := beacon.FromStoredCountingFlows([]byte(s))
		if (werr == nil) != (gerr == nil) {
			t.Errorf("%.80s: FromStored %v, FromStoredCountingFlows %v", s, werr, gerr)
			continue
		}
		if werr != nil {
			continue
		}
		if n != len(want.Flows) {
			t.Errorf("%.80s: %d flows counted, %d decoded", s, n, len(want.Flows))
		}
		if got.Flows != nil {
			t.Errorf("%.80s: flows kept", s)
		}
		w := *want
		w.Flows = nil
		if !reflect.DeepEqual(*got, w) {
			t.Errorf("%.80s:\n got %+v\nwant %+v", s, *got, w)
		}
		agreed++
	}
	if agreed < 20 {
		t.Fatalf("only %d seeds decoded: the test checks too little", agreed)
	}
}
