package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExportLine(t *testing.T) {
	for _, tc := range []struct{ payload, id, want string }{
		{`{"site":"a","ts":"x"}`, "b-1", `{"event_id":"b-1","site":"a","ts":"x"}`},
		{`{"event_id":"mine","site":"a"}`, "mine", `{"event_id":"mine","site":"a"}`},
		{`{"site":"a","event_id":"old"}`, "new", `{"event_id":"new","site":"a"}`},
		{`{}`, "b-2", `{"event_id":"b-2"}`},
		{`{"Event_ID":"x","site":"a"}`, "b-3", `{"event_id":"b-3","Event_ID":"x","site":"a"}`},
	} {
		got, err := ExportLine([]byte(tc.payload), tc.id)
		if err != nil || string(got) != tc.want {
			t.Errorf("ExportLine(%s, %s) = %s, %v; want %s", tc.payload, tc.id, got, err, tc.want)
		}
	}
	if _, err := ExportLine([]byte(`[1]`), "x"); err == nil {
		t.Error("an array is exported")
	}
}

// payloads are beacons with every kind of field: absent, empty and full
// optional fields, fields the schema does not name at every level, a
// client-given id, a ts with an offset.
var payloads = []struct{ payload, id string }{
	{`{"site":"dc-01","session":"s","event":"cluster_heartbeat","ts":"2026-01-19T15:30:00Z","structure":{"url":"internal://cluster","title":"Cluster State","nav_count":0,"main_count":0,"form_count":0,"button_count":0,"dom_nodes":0}}`, "b-0"},
	{`{"event_id":"client-1","site":"dc-01","session":"s","event":"topology_snapshot","ts":"2026-01-19T17:30:00.123456789+02:00","scope":"","labels":{},"topology":{},"flows":[],"structure":{"url":"u","title":"t","nav_count":1,"main_count":2,"form_count":3,"button_count":4,"dom_nodes":2147483647}}`, "client-1"},
	{`{"site":"dc-02","session":"","event":"flow_observed","ts":"2026-01-19T15:31:05Z","scope":"api","labels":{"cluster":"east","tier":"1"},"topology":{"ingress":["api"],"api":["db","cache"],"db":[]},"flows":[{"path":["ingress","api","db"],"latency_ms":12},{"path":["x"],"latency_ms":0.125,"corridor":"read","note":{"k":[1,2]}}],"structure":{"url":"u","title":"t","nav_count":1,"main_count":2,"form_count":3,"button_count":4,"dom_nodes":5,"depth":7},"region":"eu","tags":["a",null,true]}`, "b-2"},
}

func TestParquetRoundTrip(t *testing.T) {
	for _, p := range payloads {
		row, err := ToParquet([]byte(p.payload), p.id)
		if err != nil {
			t.Fatal(err)
		}
		back, err := FromParquet(row)
		if err != nil {
			t.Fatal(err)
		}
		line, _ := ExportLine([]byte(p.payload), p.id)
		if !SameJSON(back, line) {
			t.Errorf("round trip of %s\n got %s\nwant %s", p.payload, back, line)
		}
	}
	row, _ := ToParquet([]byte(payloads[2].payload), "b-2")
	if row.Extra == nil || *row.Extra != `{"region":"eu","tags":["a",null,true]}` || row.Structure.Extra == nil || *row.Structure.Extra != `{"depth":7}` ||
		row.Flows[1].Extra == nil || *row.Flows[1].Extra != `{"note":{"k":[1,2]}}` || row.Flows[0].Corridor != nil {
		t.Errorf("extras %+v", row)
	}
}

// export writes payloads through CreateOutput and returns the file.
func export(t *testing.T, format string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "slice."+format)
	out, err := CreateOutput(path, format, nil, Meta{Selection: "-sites dc-01", Source: "stream"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range payloads {
		it := Item{EventID: p.id, Payload: []byte(p.payload)}
		if err := out.Write(&it); err != nil {
			t.Fatal(err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 || !strings.Contains(entries[0].Name(), ".tmp-") {
		t.Errorf("before Close the folder holds %v, want only a temporary file", entries)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExportFilesRoundTrip(t *testing.T) {
	nd, err := os.ReadFile(export(t, FormatNDJSON))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(nd, []byte("\n")), []byte("\n"))
	f, err := os.Open(export(t, FormatParquet))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	rows, err := ReadParquet(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != len(payloads) || len(rows) != len(payloads) {
		t.Fatalf("%d lines, %d rows, want %d", len(lines), len(rows), len(payloads))
	}
	for i, p := range payloads {
		want, _ := ExportLine([]byte(p.payload), p.id)
		if !bytes.Equal(lines[i], want) {
			t.Errorf("line %d: %s, want %s", i, lines[i], want)
		}
		if !SameJSON(rows[i], want) {
			t.Errorf("row %d: %s, want %s", i, rows[i], want)
		}
		var b map[string]any
		if err := json.Unmarshal(lines[i], &b); err != nil || b["event_id"] != p.id {
			t.Errorf("line %d: event_id %v", i, b["event_id"])
		}
	}
}

func TestAbortLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{FormatNDJSON, FormatParquet} {
		out, err := CreateOutput(filepath.Join(dir, "x."+format), format, nil, Meta{})
		if err != nil {
			t.Fatal(err)
		}
		it := Item{EventID: payloads[0].id, Payload: []byte(payloads[0].payload)}
		if err := out.Write(&it); err != nil {
			t.Fatal(err)
		}
		out.Abort()
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("after Abort the folder holds %v", entries)
	}
}

func TestFormatOf(t *testing.T) {
	for _, tc := range []struct{ format, path, want string }{
		{"", "x.parquet", FormatParquet}, {"", "x.PARQUET", FormatParquet}, {"", "x.ndjson", FormatNDJSON}, {"", "-", FormatNDJSON},
		{"parquet", "-", FormatParquet}, {"jsonl", "x.parquet", FormatNDJSON},
	} {
		if got, err := FormatOf(tc.format, tc.path); err != nil || got != tc.want {
			t.Errorf("FormatOf(%q, %q) = %q, %v", tc.format, tc.path, got, err)
		}
	}
	if _, err := FormatOf("csv", "x"); err == nil || !strings.Contains(err.Error(), "-format") {
		t.Errorf("csv: %v", err)
	}
}

// sliceSource is a Source over fixed items.
type sliceSource []Item

func (s sliceSource) Name() string { return "test" }
func (s sliceSource) Read(ctx context.Context, sel Selection, total func(int64), fn func(Item) error) error {
	if total != nil {
		total(int64(len(s)))
	}
	for _, it := range s {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

func TestExportEmptySelection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.ndjson")
	st, err := Export(context.Background(), ExportConfig{Source: sliceSource(items(t)), Selection: Selection{Sites: []string{"nowhere"}}, Out: path, Format: FormatNDJSON})
	if !errors.Is(err, ErrEmptySelection) || !strings.Contains(err.Error(), "-sites nowhere") || st.Read != 40 {
		t.Errorf("Export of no beacon: %v (%+v)", err, st)
	}
	if _, serr := os.Stat(path); !os.IsNotExist(serr) {
		t.Errorf("an empty export left %s", path)
	}
}

func TestPassPaceAndProgress(t *testing.T) {
	var progress bytes.Buffer
	its := items(t)[:6] // arrivals 0, 0, 5, 5, 10, 10 s after the first
	p := Pass{Source: sliceSource(its), Pace: 100, Progress: &progress}
	st, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Elapsed < 90*time.Millisecond || st.Selected != 6 {
		t.Errorf("10 s of arrivals at pace 100 took %v (%d beacons), want about 100ms", st.Elapsed, st.Selected)
	}
	if !strings.Contains(progress.String(), "6/6 beacons read") {
		t.Errorf("progress %q", progress.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&Pass{Source: sliceSource(its), Pace: 1}).Run(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled pass: %v", err)
	}
}
