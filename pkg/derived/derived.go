// Package derived defines the records the drift and corridor services
// publish on RTT_DERIVED and the sink writes to ClickHouse.
package derived

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/rtt-dev/rtt/pkg/corridor"
	"github.com/rtt-dev/rtt/pkg/drift"
)

// Drift is a drift event: a confirmed structural change of one site and
// scope. Published on rtt.drift.<site>.
type Drift struct {
	DriftID    string    `json:"drift_id"`
	RunID      string    `json:"run_id,omitempty"`
	Site       string    `json:"site"`
	Scope      string    `json:"scope"`
	Cluster    string    `json:"cluster,omitempty"`
	DetectedAt time.Time `json:"detected_at"`
	drift.Event
}

// DriftID is the deterministic id of the drift event confirmed by beacon
// eventID for site and scope in run runID, so a re-published event is
// recognised as the same one.
func DriftID(runID, site, scope, eventID string) string {
	return id("d-", runID, site, scope, eventID)
}

// Alignment is one observed flow checked against the site's corridors.
// Published on rtt.alignment.<site>.
type Alignment struct {
	RecordID      string    `json:"record_id"`
	RunID         string    `json:"run_id,omitempty"`
	Site          string    `json:"site"`
	TS            time.Time `json:"ts"`
	Source        string    `json:"source"` // "beacon"
	SourceEventID string    `json:"source_event_id"`
	FlowIndex     int       `json:"flow_index"`
	Path          []string  `json:"path"`
	RunningScore  float64   `json:"running_score"`
	Total         uint64    `json:"total"`
	OnTotal       uint64    `json:"on_total"`
	corridor.Alignment
}

// AlignmentID is the deterministic id of flow index of beacon eventID.
func AlignmentID(runID, site, eventID string, index int) string {
	return id("a-", runID, site, eventID, strconv.Itoa(index))
}

func id(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return prefix + hex.EncodeToString(h.Sum(nil)[:16])
}
