package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Structure is the structural summary a beacon reports. For a cluster the
// seed guide maps racks, services, configurations, deploy targets and nodes
// onto the five counts.
type Structure struct {
	URL         string `json:"url"`
	Title       string `json:"title"`
	NavCount    int64  `json:"nav_count"`
	MainCount   int64  `json:"main_count"`
	FormCount   int64  `json:"form_count"`
	ButtonCount int64  `json:"button_count"`
	DomNodes    int64  `json:"dom_nodes"`
}

// Flow is one observed request path through services and its end-to-end
// latency. Corridor optionally names the declared corridor it claims.
type Flow struct {
	Path      []string `json:"path"`
	LatencyMS float64  `json:"latency_ms"`
	Corridor  string   `json:"corridor,omitempty"`
}

// Beacon is one structural heartbeat, in the wire format of POST /beacon
// (schemas/json/beacon.schema.json).
//
// A zero TS is set to the current time when the beacon is sent (by Batcher,
// when it is added). An empty EventID is derived from the content before the
// first attempt (see DeriveEventID). Labels, Topology and Flows are left out
// when nil; a non-nil empty Topology is sent as an empty graph, and a node
// with nil dependencies as a node with none.
type Beacon struct {
	EventID   string              `json:"event_id,omitempty"`
	Site      string              `json:"site"`
	Session   string              `json:"session"`
	Event     string              `json:"event"`
	TS        time.Time           `json:"ts"`
	Scope     string              `json:"scope,omitempty"`
	Structure Structure           `json:"structure"`
	Labels    map[string]string   `json:"labels,omitzero"`
	Topology  map[string][]string `json:"topology,omitzero"`
	Flows     []Flow              `json:"flows,omitzero"`
}

// beaconJSON has Beacon's fields without its MarshalJSON method.
type beaconJSON Beacon

// MarshalJSON encodes the beacon in the wire format, with TS in UTC and nil
// dependency lists as empty arrays (the schema wants arrays).
func (b Beacon) MarshalJSON() ([]byte, error) {
	if !b.TS.IsZero() {
		b.TS = b.TS.UTC()
	}
	for _, deps := range b.Topology {
		if deps == nil {
			b.Topology = fixTopology(b.Topology)
			break
		}
	}
	return json.Marshal(beaconJSON(b))
}

func fixTopology(g map[string][]string) map[string][]string {
	out := make(map[string][]string, len(g))
	for node, deps := range g {
		if deps == nil {
			deps = []string{}
		}
		out[node] = deps
	}
	return out
}

// DeriveEventID returns the event id the server derives for b when b has
// none: "b-" and the first 32 hex digits of the SHA-256 of the canonical JSON
// of the payload without event_id. Canonical means the payload as decoded
// into generic JSON values (numbers kept as written) and encoded again by
// encoding/json: object keys sorted, no insignificant whitespace, HTML
// characters escaped. It is the function pkg/beacon.DeriveID of the server,
// applied to what this client sends, so client and server agree on the id.
//
// b.EventID is ignored; b.TS should be set (a zero TS is sent as the current
// time, which changes the id).
func DeriveEventID(b Beacon) (string, error) {
	b.EventID = ""
	raw, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("rtt: encoding beacon: %w", err)
	}
	return deriveID(raw)
}

func deriveID(raw []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return "", fmt.Errorf("rtt: canonical form: %w", err)
	}
	canon, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("rtt: canonical form: %w", err)
	}
	sum := sha256.Sum256(canon)
	return "b-" + hex.EncodeToString(sum[:16]), nil
}

// prepare fills TS (when zero) and EventID (when empty) and returns the
// beacon and its encoding, ready to send any number of times.
func prepare(b Beacon, now time.Time) (Beacon, []byte, error) {
	if b.TS.IsZero() {
		b.TS = now
	}
	if b.EventID == "" {
		id, err := DeriveEventID(b)
		if err != nil {
			return b, nil, err
		}
		b.EventID = id
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return b, nil, fmt.Errorf("rtt: encoding beacon: %w", err)
	}
	return b, raw, nil
}
