package replay

import (
	"context"
	"errors"
	"time"

	"github.com/rtt-dev/rtt/pkg/beacon"
)

// Item is one stored beacon as a source delivers it.
type Item struct {
	// EventID is the beacon's event id (the Rtt-Event-Id header, the
	// event_id column).
	EventID string
	// Received is when ingest accepted it (Rtt-Received-At; whole seconds
	// from ClickHouse).
	Received time.Time
	// Seq is its position in RTT_BEACONS (batch.Pos of the stream
	// sequence of its message and its index there): the order in which the
	// live services applied it.
	Seq uint64
	// Payload is the beacon as stored: the client's JSON, compacted.
	Payload []byte
	// Beacon is Payload decoded; nil when it could not be (Err says why).
	Beacon *beacon.Beacon
	Err    error
}

// Source delivers stored beacons in stream order.
type Source interface {
	// Name is "stream" or "clickhouse", as the -source flag says it.
	Name() string
	// Read calls fn with every stored beacon that may match sel, in
	// increasing stream sequence, and stops at the first error of fn or
	// when ctx ends (returning ctx's error). The source pre-filters;
	// the caller still applies sel.Match. total, when known, is called
	// once before the first item with how many items Read expects to
	// deliver (for the progress bar); the stream source counts messages
	// and calls total again with a larger figure as batches turn out to
	// hold more beacons.
	Read(ctx context.Context, sel Selection, total func(int64), fn func(Item) error) error
}

// ErrBeyondRetention is wrapped by the error of a stream read whose
// selection reaches back before the oldest beacon the stream still holds.
var ErrBeyondRetention = errors.New("selection reaches past the stream's retention")

// decode fills it.Beacon or it.Err from it.Payload.
func (it *Item) decode() {
	it.Beacon, it.Err = beacon.FromStored(it.Payload)
}
