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

// wireBeacon is a Beacon in canonical form: fields (and, inside, the
// structure's and flows' fields) declared in sorted key order, so that
// encoding/json, which sorts map keys, writes exactly the canonical JSON the
// server derives event ids from.
type wireBeacon struct {
	Event     string              `json:"event"`
	EventID   string              `json:"event_id,omitempty"`
	Flows     []wireFlow          `json:"flows,omitzero"`
	Labels    map[string]string   `json:"labels,omitzero"`
	Scope     string              `json:"scope,omitempty"`
	Session   string              `json:"session"`
	Site      string              `json:"site"`
	Structure wireStructure       `json:"structure"`
	Topology  map[string][]string `json:"topology,omitzero"`
	TS        time.Time           `json:"ts"`
}

type wireStructure struct {
	ButtonCount int64  `json:"button_count"`
	DomNodes    int64  `json:"dom_nodes"`
	FormCount   int64  `json:"form_count"`
	MainCount   int64  `json:"main_count"`
	NavCount    int64  `json:"nav_count"`
	Title       string `json:"title"`
	URL         string `json:"url"`
}

type wireFlow struct {
	Corridor  string   `json:"corridor,omitempty"`
	LatencyMS float64  `json:"latency_ms"`
	Path      []string `json:"path"`
}

// MarshalJSON encodes the beacon in the wire format, in canonical form:
// keys sorted, TS in UTC, nil dependency lists as empty arrays (the schema
// wants arrays).
func (b Beacon) MarshalJSON() ([]byte, error) { return json.Marshal(b.wire()) }

// encode is json.Marshal(b) without encoding/json's second pass over a
// MarshalJSON result.
func (b Beacon) encode() ([]byte, error) { return json.Marshal(b.wire()) }

func (b Beacon) wire() wireBeacon {
	w := wireBeacon{
		Event: b.Event, EventID: b.EventID, Labels: b.Labels, Scope: b.Scope,
		Session: b.Session, Site: b.Site, Topology: b.Topology, TS: b.TS,
		Structure: wireStructure{
			ButtonCount: b.Structure.ButtonCount, DomNodes: b.Structure.DomNodes,
			FormCount: b.Structure.FormCount, MainCount: b.Structure.MainCount,
			NavCount: b.Structure.NavCount, Title: b.Structure.Title, URL: b.Structure.URL,
		},
	}
	if !w.TS.IsZero() {
		w.TS = w.TS.UTC()
	}
	if b.Flows != nil {
		w.Flows = make([]wireFlow, len(b.Flows))
		for i, f := range b.Flows {
			w.Flows[i] = wireFlow{Corridor: f.Corridor, LatencyMS: f.LatencyMS, Path: f.Path}
		}
	}
	for _, deps := range b.Topology {
		if deps == nil {
			w.Topology = fixTopology(b.Topology)
			break
		}
	}
	return w
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
// of the payload without event_id. Canonical is what pkg/beacon.DeriveID
// hashes: the payload decoded into generic JSON values (numbers kept as
// written) and encoded again by encoding/json, so object keys sorted, no
// insignificant whitespace, HTML characters escaped. The client encodes
// beacons in that form already (see MarshalJSON), so it hashes its own
// encoding, and client and server agree on the id.
//
// b.EventID is ignored; b.TS should be set (a zero TS is sent as the current
// time, which changes the id).
func DeriveEventID(b Beacon) (string, error) {
	b.EventID = ""
	canon, err := b.encode()
	if err != nil {
		return "", fmt.Errorf("rtt: encoding beacon: %w", err)
	}
	if bytes.Contains(canon, []byte(`\ufffd`)) {
		// encoding/json wrote invalid UTF-8 as the escape \ufffd; decoded and
		// encoded again it becomes the character itself. Only then does the
		// canonical form differ from the client's encoding.
		if canon, err = recode(canon); err != nil {
			return "", err
		}
	}
	sum := sha256.Sum256(canon)
	return "b-" + hex.EncodeToString(sum[:16]), nil
}

// recode decodes raw into generic JSON values, numbers kept as written, and
// encodes it again: the server's canonical form.
func recode(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("rtt: canonical form: %w", err)
	}
	canon, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("rtt: canonical form: %w", err)
	}
	return canon, nil
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
	raw, err := b.encode()
	if err != nil {
		return b, nil, fmt.Errorf("rtt: encoding beacon: %w", err)
	}
	return b, raw, nil
}
