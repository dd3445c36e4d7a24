package replay_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// postBatch posts NDJSON beacons and fails unless every one is stored.
func postBatch(t *testing.T, api, ndjson string) {
	t.Helper()
	resp, err := http.Post(api+"/beacons", "application/x-ndjson", strings.NewReader(ndjson))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ans struct {
		Results []struct {
			Status string `json:"status"`
		} `json:"results"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /beacons: %d %s", resp.StatusCode, raw)
	}
	for i, r := range ans.Results {
		if r.Status != "ok" {
			t.Fatalf("beacon %d: %s", i, raw)
		}
	}
}
