package beacon

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rtt-dev/rtt/pkg/schema"
)

// Structure is the structural summary of what a beacon describes.
type Structure struct {
	URL         string `json:"url"`
	Title       string `json:"title"`
	NavCount    int64  `json:"nav_count"`
	MainCount   int64  `json:"main_count"`
	FormCount   int64  `json:"form_count"`
	ButtonCount int64  `json:"button_count"`
	DomNodes    int64  `json:"dom_nodes"`
}

// Flow is one observed request path through services and its latency.
type Flow struct {
	Path      []string `json:"path"`
	LatencyMS float64  `json:"latency_ms"`
	Corridor  string   `json:"corridor,omitempty"`
}

// Beacon is one validated beacon.
type Beacon struct {
	EventID   string              `json:"event_id,omitempty"`
	Site      string              `json:"site"`
	Session   string              `json:"session"`
	Event     string              `json:"event"`
	TS        string              `json:"ts"`
	Scope     string              `json:"scope,omitempty"`
	Structure Structure           `json:"structure"`
	Labels    map[string]string   `json:"labels,omitempty"`
	Topology  map[string][]string `json:"topology,omitempty"`
	Flows     []Flow              `json:"flows,omitempty"`

	// Time is TS parsed.
	Time time.Time `json:"-"`
}

// KeyScope is the scope drift keeps a baseline for: Scope when given, else
// the structure's URL.
func (b *Beacon) KeyScope() string {
	if b.Scope != "" {
		return b.Scope
	}
	return b.Structure.URL
}

// Edges counts the topology's dependency edges.
func (b *Beacon) Edges() int {
	n := 0
	for _, deps := range b.Topology {
		n += len(deps)
	}
	return n
}

// ErrInvalid is wrapped by every error that means the payload can never be
// accepted as sent (as opposed to a server-side failure).
var ErrInvalid = errors.New("invalid payload")

// InvalidError is a rejected payload: the rules it failed, each naming its
// field.
type InvalidError struct {
	Violations []schema.Violation
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.String()
	}
	return "invalid beacon: " + strings.Join(parts, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Unwrap() error { return ErrInvalid }

func invalid(field, rule string) error {
	return &InvalidError{Violations: []schema.Violation{{Field: field, Rule: rule}}}
}

// Earliest and Latest bound a beacon's ts: what a ClickHouse DateTime holds.
var (
	Earliest = time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC)
	Latest   = time.Date(2105, 12, 31, 0, 0, 0, 0, time.UTC)
)

// Decoder validates raw payloads against the beacon schema. It is safe for
// concurrent use.
type Decoder struct {
	schemas *schema.Set
	maxSkew time.Duration
	now     func() time.Time
	slow    bool // skip the fast path (tests compare the two)
}

// NewDecoder returns a Decoder using the compiled schema set.
func NewDecoder(s *schema.Set) *Decoder { return &Decoder{schemas: s, now: time.Now} }

// WithMaxSkew returns a copy of d that also rejects a ts more than skew
// ahead of now: a clock far in the future would hold its site's drift
// baseline (beacons older than the newest are late) until real time caught
// up. Zero allows any ts up to Latest.
func (d *Decoder) WithMaxSkew(skew time.Duration, now func() time.Time) *Decoder {
	c := *d
	c.maxSkew, c.now = skew, now
	return &c
}

// Decode parses and validates one beacon. On success the beacon's EventID is
// set (derived from the content when the client gave none). Errors from bad
// input wrap ErrInvalid and name the field.
//
// A payload that the fast path (fastDecode) can vouch for is decoded in one
// scan; anything else, and every invalid payload, goes through the generic
// decode and the JSON Schema, which decide and word the error.
func (d *Decoder) Decode(raw []byte) (*Beacon, error) {
	var doc any // the generic value, when decoded
	b, ok := Beacon{}, false
	if !d.slow {
		b, ok = fastDecode(raw)
	}
	if !ok {
		var err error
		doc, err = DecodeJSON(raw)
		if err != nil {
			return nil, err
		}
		if err := d.schemas.Validate(schema.KindBeacon, doc); err != nil {
			var se *schema.Error
			if errors.As(err, &se) {
				return nil, &InvalidError{Violations: se.Violations}
			}
			return nil, err
		}
		b = Beacon{}
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, invalid("", err.Error())
		}
	}
	t, err := time.Parse(time.RFC3339Nano, b.TS)
	if err != nil {
		return nil, invalid("ts", "must be an RFC 3339 date-time such as 2026-01-19T15:30:00Z")
	}
	if t.Before(Earliest) || t.After(Latest) {
		return nil, invalid("ts", fmt.Sprintf("must lie between %s and %s", Earliest.Format(time.DateOnly), Latest.Format(time.DateOnly)))
	}
	if d.maxSkew > 0 {
		if ahead := t.Sub(d.now()); ahead > d.maxSkew {
			return nil, invalid("ts", fmt.Sprintf("is %s ahead of the server's clock (at most %s allowed); check the sender's clock", ahead.Round(time.Second), d.maxSkew))
		}
	}
	b.Time = t.UTC()
	if b.EventID == "" {
		if doc == nil {
			// The fast path read a valid payload: this cannot fail.
			if doc, err = DecodeJSON(raw); err != nil {
				return nil, err
			}
		}
		b.EventID = DeriveID(doc)
	}
	return &b, nil
}

// DecodeJSON parses one JSON value keeping numbers exact (json.Number), as the
// schema validator needs, and rejects trailing data.
func DecodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, invalid("", "malformed JSON: "+err.Error())
	}
	if dec.More() {
		return nil, invalid("", "malformed JSON: data after the value")
	}
	return doc, nil
}

// DeriveID returns the content-derived event id of a decoded payload: "b-"
// and the first 32 hex digits of the SHA-256 of its canonical JSON. Two
// payloads that differ only in key order or whitespace get the same id.
func DeriveID(doc any) string {
	canon, _ := json.Marshal(doc) // a decoded JSON value always re-encodes
	sum := sha256.Sum256(canon)
	return "b-" + hex.EncodeToString(sum[:16])
}

// Token makes s usable as one NATS subject token: characters outside
// [A-Za-z0-9_-] become '_', and it is cut to 64 bytes. The payload keeps the
// real value; the token only routes.
func Token(s string) string {
	if s == "" {
		return "_"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	buf := []byte(s)
	for i, c := range buf {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			buf[i] = '_'
		}
	}
	return string(buf)
}

// Subject is the JetStream subject a beacon is published on.
func (b *Beacon) Subject() string {
	return "rtt.beacon." + Token(b.Site) + "." + Token(b.Event)
}

// FromStoredCountingFlows is FromStored for readers that need every field
// but the flows, of which only the number: the returned beacon has no Flows
// and flows says how many it carries. It allocates much less for flow
// beacons.
func FromStoredCountingFlows(data []byte) (b *Beacon, flows int, err error) {
	p := &fastScanner{s: data, countFlows: true}
	if v, ok := p.decode(); ok {
		if b, err = stored(v); err != nil {
			return nil, 0, err
		}
		return b, p.nflows, nil
	}
	if b, err = FromStored(data); err != nil {
		return nil, 0, err
	}
	flows, b.Flows = len(b.Flows), nil
	return b, flows, nil
}

// FromStored decodes a beacon as stored in JetStream: already validated by
// ingest, so only parsed, by the fast scanner when it vouches for the bytes
// (it gives the same Beacon as the typed decode) and by encoding/json
// otherwise. The event id comes from the message headers, not from here.
// Errors wrap ErrInvalid.
func FromStored(data []byte) (*Beacon, error) {
	b, ok := fastDecode(data)
	if !ok {
		b = Beacon{}
		if err := json.Unmarshal(data, &b); err != nil {
			return nil, invalid("", "stored beacon: "+err.Error())
		}
	}
	return stored(b)
}

// stored checks and parses the event time of a stored beacon.
func stored(b Beacon) (*Beacon, error) {
	t, err := time.Parse(time.RFC3339Nano, b.TS)
	if err != nil || t.Before(Earliest) || t.After(Latest) {
		return nil, invalid("ts", "stored beacon has an unusable ts "+strconv.Quote(b.TS))
	}
	b.Time = t.UTC()
	return &b, nil
}
