package derive

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/corridor"
	"github.com/rtt-dev/rtt/pkg/derived"
	"github.com/rtt-dev/rtt/pkg/drift"
)

// DriftKey is the drift Tracker key (and the live KV key) of one site and
// scope: the URL-safe base64 of site, a NUL byte and scope.
func DriftKey(site, scope string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(site + "\x00" + scope))
}

// DriftInput is what the drift Tracker reads of beacon b, stored under
// eventID at stream sequence seq.
func DriftInput(b *beacon.Beacon, eventID string, seq uint64) drift.Input {
	s := b.Structure
	return drift.Input{EventID: eventID, TS: b.Time, Seq: seq, Features: drift.Features{
		Counts: [drift.NumCounts]float64{float64(s.NavCount), float64(s.MainCount), float64(s.FormCount), float64(s.ButtonCount), float64(s.DomNodes)},
		Graph:  b.Topology,
	}}
}

// Cluster is the cluster a beacon reports for: its labels.cluster, else its
// site.
func Cluster(b *beacon.Beacon) string {
	if c := b.Labels["cluster"]; c != "" {
		return c
	}
	return b.Site
}

// DriftRecord is the drift event record for ev, which beacon b confirmed, in
// run runID ("" for the live pipeline), detected at detectedAt.
func DriftRecord(runID string, b *beacon.Beacon, ev drift.Event, detectedAt time.Time) derived.Drift {
	scope := b.KeyScope()
	return derived.Drift{
		DriftID: derived.DriftID(runID, b.Site, scope, ev.EventID),
		RunID:   runID, Site: b.Site, Scope: scope, Cluster: Cluster(b),
		DetectedAt: detectedAt, Event: ev,
	}
}

// ScoreKey is the corridor Scores key (and the live KV key) of one site's
// corridor.
func ScoreKey(site, corridorName string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(site + "\x00" + corridorName))
}

// ScoreSeq is the sequence under which flow index flow of the beacon at
// stream sequence seq is observed by corridor.Scores: the flows of one
// beacon (at most 1000 by the schema) get consecutive sequences, so a
// redelivered beacon is recognised flow by flow.
func ScoreSeq(seq uint64, flow int) uint64 {
	return seq<<10 | uint64(flow)
}

// Alignment is the alignment record of flow index i of beacon b, stored
// under eventID, against corridors in run runID ("" for live). A flow that
// is not valid is recorded unmatched. The running score fields are left
// zero: when the record is Matched, the caller observes it in its Scores
// under ScoreKey(b.Site, rec.Corridor) and ScoreSeq, and fills RunningScore,
// Total and OnTotal from the result.
func Alignment(runID string, b *beacon.Beacon, eventID string, i int, corridors []corridor.Corridor) derived.Alignment {
	f := b.Flows[i]
	flow := corridor.Flow{Path: f.Path, LatencyMS: f.LatencyMS, Corridor: f.Corridor}
	var a corridor.Alignment
	if err := corridor.ValidateFlow(flow); err != nil {
		a = corridor.Alignment{Corridor: f.Corridor, LatencyMS: f.LatencyMS}
	} else {
		a = corridor.Align(corridors, flow)
	}
	return derived.Alignment{
		RecordID: derived.AlignmentID(runID, b.Site, eventID, i),
		RunID:    runID, Site: b.Site, TS: b.Time, Source: "beacon", SourceEventID: eventID,
		FlowIndex: i, Path: f.Path, Alignment: a,
	}
}

// ProfileCorridors reads the corridors a site declared in its profile (the
// body stored in the profiles bucket and in ClickHouse). A profile without
// corridors gives none; an unreadable profile or invalid corridors give an
// error, and the live service then uses none.
func ProfileCorridors(profile []byte) ([]corridor.Corridor, error) {
	var prof struct {
		Corridors []corridor.Corridor `json:"corridors"`
	}
	if err := json.Unmarshal(profile, &prof); err != nil {
		return nil, fmt.Errorf("profile unreadable: %w", err)
	}
	if err := corridor.ValidateCorridors(prof.Corridors); err != nil {
		return nil, fmt.Errorf("profile corridors invalid: %w", err)
	}
	return prof.Corridors, nil
}
