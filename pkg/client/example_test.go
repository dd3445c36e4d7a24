package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/rtt-dev/rtt/pkg/client"
)

// Send the seed guide's cluster heartbeat. A stand-in server plays rtt's
// ingest here; against a real one, client.New("") reads RTT_URL and
// RTT_TOKEN.
func ExampleClient_Beacon() {
	ingest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b client.Beacon
		_ = json.NewDecoder(r.Body).Decode(&b)
		json.NewEncoder(w).Encode(map[string]any{"status": "ok", "event_id": b.EventID, "duplicate": false, "seq": 1})
	}))
	defer ingest.Close()

	c := client.New(ingest.URL + "/api/rtt")
	res, err := c.Beacon(context.Background(), client.Beacon{
		Site:    "datacenter-east",
		Session: "dc-1768836600",
		Event:   "cluster_heartbeat",
		TS:      time.Date(2026, 1, 19, 15, 30, 0, 0, time.UTC),
		Structure: client.Structure{
			URL: "internal://cluster", Title: "Cluster State",
			NavCount: 12, MainCount: 9, FormCount: 80, ButtonCount: 4, DomNodes: 384,
		},
		Labels: map[string]string{"cluster": "east"},
	})
	if err != nil {
		fmt.Println("not stored:", err)
		return
	}
	fmt.Println(res.EventID, res.Duplicate)
	// Output: b-060907561d962c52e0407e13ec0c9157 false
}
