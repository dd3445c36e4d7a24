package drift

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestScenarioGolden pins every event of a long scenario, byte for byte.
// The same inputs must give the same outputs on every platform and in every
// later version, or replays of the stream would disagree with what the live
// pipeline reported. Run with -update after an intended change and review
// the diff.
func TestScenarioGolden(t *testing.T) {
	tr := NewTracker(DefaultParams())
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i, s := range scenario(7, 5000, 0) {
		if _, ev, _ := tr.Step(s.key, s.in); ev != nil {
			if err := enc.Encode(struct {
				Step int    `json:"step"`
				Key  string `json:"key"`
				*Event
			}{i, s.key, ev}); err != nil {
				t.Fatal(err)
			}
		}
	}
	path := filepath.Join("testdata", "scenario_events.golden")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("events differ from %s; run go test -update and review the diff", path)
	}
}
