package drift

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// NavCount, MainCount, FormCount, ButtonCount and DomNodes index the five
// structure counts in Features.Counts, Event.Baseline and Event.Observed;
// NumCounts is their number.
const (
	NavCount = iota
	MainCount
	FormCount
	ButtonCount
	DomNodes
	NumCounts
)

// CountNames are the beacon field names of the counts, indexed like
// Features.Counts.
var CountNames = [NumCounts]string{"nav_count", "main_count", "form_count", "button_count", "dom_nodes"}

// MaxCount bounds the magnitude of a count. Step clamps counts to
// [-MaxCount, MaxCount] and reads NaN as 0, so a bad beacon cannot make a
// baseline infinite; Features.Validate rejects such beacons instead.
const MaxCount = 1e15

// ErrInvalidFeatures is wrapped by every error of Features.Validate.
var ErrInvalidFeatures = errors.New("drift: invalid features")

// Features are what the detector reads from one beacon.
type Features struct {
	// Counts are nav_count, main_count, form_count, button_count and
	// dom_nodes, in that order.
	Counts [NumCounts]float64
	// Graph maps each topology node to the nodes it depends on. Nil when the
	// beacon carries no topology; a non-nil empty map is an empty graph.
	Graph map[string][]string
}

// Validate reports a count that is NaN, infinite or beyond MaxCount, naming
// it by its beacon field name. Step accepts any Features; Validate lets the
// caller reject a poison beacon instead of having it clamped.
func (f Features) Validate() error {
	for i, x := range f.Counts {
		if math.IsNaN(x) || math.Abs(x) > MaxCount {
			return fmt.Errorf("%w: %s must be a number between %g and %g, got %v", ErrInvalidFeatures, CountNames[i], -MaxCount, MaxCount, x)
		}
	}
	return nil
}

// Input is one beacon as the Tracker sees it.
type Input struct {
	// EventID is the beacon's event id; events name the beacons that made
	// them by it.
	EventID string
	// TS is the beacon's event time. It is kept at nanosecond precision in
	// UTC between the years 1678 and 2262 and clamped outside. A beacon whose
	// TS is before the newest TS already applied to its key is late: Step
	// measures it but lets it change nothing (see Tracker.Step).
	TS time.Time
	// Seq is the JetStream stream sequence of the beacon. Sequences of one key
	// must grow; Step ignores a beacon whose Seq is not above the last one it
	// applied to the key.
	Seq      uint64
	Features Features
}

// Vector is the drift of one beacon from its key's baseline, one component
// per count (signed, relative to the baseline) plus the topology distance
// (between 0 and 1).
type Vector struct {
	Nav      float64 `json:"nav_count"`
	Main     float64 `json:"main_count"`
	Form     float64 `json:"form_count"`
	Button   float64 `json:"button_count"`
	DomNodes float64 `json:"dom_nodes"`
	Topology float64 `json:"topology"`
}

// Measurement is the result of measuring one beacon against its baseline.
type Measurement struct {
	Vector    Vector  `json:"vector"`
	Magnitude float64 `json:"magnitude"`
	Drifted   bool    `json:"drifted"`
	// Late reports a beacon older in event time than the newest one already
	// applied to its key. It was measured against the baseline like any
	// other, but it changed neither the streak nor the baseline and cannot
	// fire an event, whatever Drifted says.
	Late bool `json:"late"`
}

// Event is a confirmed structural drift of one key: Streak drifted beacons
// in a row, from FirstEventID to EventID. After it the key's baseline is the
// structure of EventID.
type Event struct {
	// EventID is the beacon that confirmed the drift.
	EventID string `json:"event_id"`
	// FirstEventID is the first drifted beacon of the streak.
	FirstEventID string `json:"first_event_id"`
	// TS and FirstTS are the event times of those two beacons, in UTC.
	TS      time.Time `json:"ts"`
	FirstTS time.Time `json:"first_ts"`
	// Magnitude and Vector are the measurement of the confirming beacon.
	Magnitude float64 `json:"magnitude"`
	Vector    Vector  `json:"vector"`
	// Baseline are the baseline counts before the change, Observed the
	// counts of the confirming beacon (the new baseline).
	Baseline [NumCounts]float64 `json:"baseline"`
	Observed [NumCounts]float64 `json:"observed"`
	Streak   int                `json:"streak"`
	// The topology diff of the confirming beacon against the baseline graph;
	// all 0 when either has no graph.
	NodesAdded   int `json:"nodes_added"`
	NodesRemoved int `json:"nodes_removed"`
	EdgesAdded   int `json:"edges_added"`
	EdgesRemoved int `json:"edges_removed"`
}
