// Package batch is how beacons are carried in the RTT_BEACONS stream.
//
// POST /beacon stores one beacon per message, on rtt.beacon.<site>.<event>,
// its event id as Nats-Msg-Id and in the Rtt-Event-Id header. POST /beacons
// stores the request's beacons together, up to MaxItems per message: the
// payloads as NDJSON (compact JSON, one beacon per line) on rtt.batch.<site>
// when they all come from one site and on rtt.batch otherwise, their event
// ids in order in the Rtt-Event-Ids header, and as Nats-Msg-Id a digest of
// those ids, so an exact re-send of a request is recognised by the stream.
// Every per-message cost of the bus (publish, acknowledgement, duplicate
// window, one delivery to each consumer) is then paid once per request
// instead of once per beacon; each beacon keeps its event id, which stays its
// ClickHouse key.
//
// Consumers read both kinds with Items. A beacon's position in the stream,
// Pos, orders beacons of one message after one another and after every
// beacon of earlier messages.
package batch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/rtt-dev/rtt/pkg/natsx"
)

// MaxItems is the most beacons one message carries; Pos keeps 10 bits for
// the index.
const MaxItems = 1 << indexBits

const indexBits = 10

// Subject prefixes of beacon messages.
const (
	singlePrefix = "rtt.beacon."
	batchSubject = "rtt.batch"
)

// Item is one beacon as stored: its event id, its index in its message and
// its payload (compact JSON, as ingest accepted it).
type Item struct {
	EventID string
	Index   int
	Data    []byte
}

// Pos is the position of item index of the message at stream sequence seq:
// increasing through the stream, beacon by beacon. Stateful consumers use it
// to recognise a redelivered beacon.
func Pos(seq uint64, index int) uint64 {
	return seq<<indexBits | uint64(index)
}

// IsBeacons reports whether subject carries beacons (one or many).
func IsBeacons(subject string) bool {
	return strings.HasPrefix(subject, singlePrefix) || IsBatch(subject)
}

// IsBatch reports whether subject is a batch subject.
func IsBatch(subject string) bool {
	return subject == batchSubject || strings.HasPrefix(subject, batchSubject+".")
}

// Subject is the subject of a batch whose beacons all come from the site
// with subject token siteToken, or of a batch of several sites when
// siteToken is "".
func Subject(siteToken string) string {
	if siteToken == "" {
		return batchSubject
	}
	return batchSubject + "." + siteToken
}

// Builder accumulates the beacons of one batch message.
type Builder struct {
	ids  []string
	data bytes.Buffer
	site string // subject token of the first item's site
	one  bool   // every item so far has that site
}

// Add appends a beacon: its event id, its site's subject token and its
// compact JSON payload, which must hold no newline.
func (b *Builder) Add(eventID, siteToken string, payload []byte) {
	if len(b.ids) == 0 {
		b.site, b.one = siteToken, true
	} else {
		b.data.WriteByte('\n')
		b.one = b.one && siteToken == b.site
	}
	b.ids = append(b.ids, eventID)
	b.data.Write(payload)
}

// Len is the number of beacons added.
func (b *Builder) Len() int { return len(b.ids) }

// Size is the message's size so far: payload and event id header.
func (b *Builder) Size() int {
	n := b.data.Len()
	for _, id := range b.ids {
		n += len(id) + 1
	}
	return n
}

// Msg returns the message carrying the beacons added, with its Nats-Msg-Id;
// the caller adds its other headers. The builder may not be used after.
func (b *Builder) Msg() *nats.Msg {
	site := ""
	if b.one {
		site = b.site
	}
	m := nats.NewMsg(Subject(site))
	m.Data = b.data.Bytes()
	ids := strings.Join(b.ids, ",")
	m.Header.Set(natsx.HeaderEventIDs, ids)
	m.Header.Set(natsx.HeaderItems, strconv.Itoa(len(b.ids)))
	sum := sha256.Sum256([]byte(ids))
	m.Header.Set(nats.MsgIdHdr, "batch-"+hex.EncodeToString(sum[:16]))
	return m
}

// ErrMalformed marks a beacon message whose items cannot be read.
var ErrMalformed = errors.New("malformed beacon message")

// Items returns the beacons a RTT_BEACONS message carries, in order.
func Items(subject string, h nats.Header, data []byte) ([]Item, error) {
	if !IsBatch(subject) {
		id := h.Get(natsx.HeaderEventID)
		if id == "" {
			id = h.Get(nats.MsgIdHdr)
		}
		return []Item{{EventID: id, Data: data}}, nil
	}
	ids := strings.Split(h.Get(natsx.HeaderEventIDs), ",")
	if len(ids) > MaxItems {
		return nil, fmt.Errorf("%w: %d items, at most %d", ErrMalformed, len(ids), MaxItems)
	}
	items := make([]Item, len(ids))
	rest := data
	for i, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("%w: item %d has no event id", ErrMalformed, i)
		}
		line := rest
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			line, rest = rest[:j], rest[j+1:]
		} else {
			rest = nil
		}
		if i < len(ids)-1 && rest == nil {
			return nil, fmt.Errorf("%w: %d event ids but %d payloads", ErrMalformed, len(ids), i+1)
		}
		items[i] = Item{EventID: id, Index: i, Data: line}
	}
	if rest != nil {
		return nil, fmt.Errorf("%w: more payloads than the %d event ids", ErrMalformed, len(ids))
	}
	return items, nil
}

// Count is the number of beacons a message carries, read from its headers
// alone: what batching consumers weigh a message by.
func Count(subject string, h nats.Header) int {
	if !IsBatch(subject) {
		return 1
	}
	if n, err := strconv.Atoi(h.Get(natsx.HeaderItems)); err == nil && n > 0 {
		return n
	}
	return strings.Count(h.Get(natsx.HeaderEventIDs), ",") + 1
}
