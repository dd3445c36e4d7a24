package drift

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// ErrInvalidSnapshot is wrapped by every error of Tracker.Load: the bytes
// are not a snapshot of a version this package reads, or are damaged.
var ErrInvalidSnapshot = errors.New("drift: invalid snapshot")

// The first byte of a snapshot is its encoding version. Snapshot writes
// snapshotV3; Load reads every version, and a new encoding gets a new number
// while Load keeps reading the old ones.
const (
	snapshotV1 = 1 // without the newest event time, which loads as 0 (unknown)
	snapshotV2 = 2 // without the newest event id, which loads as 0 (unknown)
	snapshotV3 = 3 // current
)

// Encoding version 3, little endian, fixed widths so that every state has
// exactly one encoding:
//
//	u8   version (3)
//	u8   flags: 1 baseline graph, 2 last event time, 4 streak by topology alone
//	u64  last applied Seq
//	i64  newest applied event time (Unix ns)
//	u64  hash of the newest applied event id (FNV-1a 64; 0 unknown)
//	f64  ×5 baseline counts (IEEE 754 bits)
//	u32  streak
//	if streak > 0:  i64 first TS (Unix ns), u32 length, first event id bytes
//	if flags&2:     i64 last event TS (Unix ns)
//	if flags&1:     u32 nodes, u32 edges, u64 ×nodes node hashes, u64 ×edges
//	                edge hashes, each list strictly ascending
//
// Version 2 is the same without the event id hash, version 1 also without
// the newest applied event time.
const snapshotFixed = 1 + 1 + 8 + 8 + 8 + 8*NumCounts + 4

// Snapshot returns the encoded state of key, or false when the Tracker holds
// no state for it. Load of the result restores the key exactly.
func (t *Tracker) Snapshot(key string) ([]byte, bool) {
	st, ok := t.keys[key]
	if !ok {
		return nil, false
	}
	return st.appendTo(nil), true
}

func (st *state) appendTo(b []byte) []byte {
	size := snapshotFixed + 8*len(st.graph.hashes) + 8 + 8
	if st.streak > 0 {
		size += 12 + len(st.firstID)
	}
	b = slices.Grow(b, size)
	le := binary.LittleEndian
	b = append(b, snapshotV3, st.flags&snapFlags)
	b = le.AppendUint64(b, st.lastSeq)
	b = le.AppendUint64(b, uint64(st.newestTS))
	b = le.AppendUint64(b, st.newestID)
	for _, x := range st.base {
		b = le.AppendUint64(b, math.Float64bits(x))
	}
	b = le.AppendUint32(b, st.streak)
	if st.streak > 0 {
		b = le.AppendUint64(b, uint64(st.firstTS))
		b = le.AppendUint32(b, uint32(len(st.firstID)))
		b = append(b, st.firstID...)
	}
	if st.flags&hasEvent != 0 {
		b = le.AppendUint64(b, uint64(st.eventTS))
	}
	if st.flags&hasGraph != 0 {
		b = le.AppendUint32(b, st.graph.nodes)
		b = le.AppendUint32(b, uint32(len(st.graph.hashes))-st.graph.nodes)
		for _, h := range st.graph.hashes {
			b = le.AppendUint64(b, h)
		}
	}
	return b
}

// Load replaces the state of key with the decoded snapshot b. It returns an
// error wrapping ErrInvalidSnapshot, and leaves the Tracker unchanged, when
// b is not a complete, well-formed version 1, 2 or 3 snapshot. A version 1
// snapshot does not know the key's newest event time: it loads as 0
// (unknown), so the key's next beacon is not late unless it is stamped
// before 1970, and sets it. Versions 1 and 2 do not know the newest event
// id: it loads as 0 (unknown), so no beacon is taken for a re-send of it
// until the next one sets it. Load does not mark the key dirty and does not
// keep b.
func (t *Tracker) Load(key string, b []byte) error {
	var st state
	if err := st.decode(b); err != nil {
		return err
	}
	if old, ok := t.keys[key]; ok {
		st.key = old.key
		st.flags |= old.flags & dirty
		*old = st
		return nil
	}
	st.key = strings.Clone(key)
	t.keys[st.key] = &st
	return nil
}

func (st *state) decode(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", ErrInvalidSnapshot)
	}
	version := b[0]
	if version < snapshotV1 || version > snapshotV3 {
		return fmt.Errorf("%w: unsupported version %d", ErrInvalidSnapshot, version)
	}
	r := reader{b: b[1:]}
	flags := r.u8()
	st.lastSeq = r.u64()
	if version >= snapshotV2 {
		st.newestTS = int64(r.u64())
	}
	if version >= snapshotV3 {
		st.newestID = r.u64()
	}
	for i := range st.base {
		st.base[i] = math.Float64frombits(r.u64())
	}
	st.streak = r.u32()
	if st.streak > 0 {
		st.firstTS = int64(r.u64())
		st.firstID = string(r.bytes(uint64(r.u32())))
	}
	if flags&hasEvent != 0 {
		st.eventTS = int64(r.u64())
	}
	if flags&hasGraph != 0 {
		nodes, edges := r.u32(), r.u32()
		raw := r.bytes(8 * (uint64(nodes) + uint64(edges)))
		if r.err == nil {
			st.graph.hashes = make([]uint64, len(raw)/8)
			for i := range st.graph.hashes {
				st.graph.hashes[i] = binary.LittleEndian.Uint64(raw[8*i:])
			}
			st.graph.nodes = nodes
		}
	}
	st.flags = flags
	switch {
	case r.err != nil:
		return r.err
	case len(r.b) > 0:
		return fmt.Errorf("%w: %d bytes after the end", ErrInvalidSnapshot, len(r.b))
	case flags&^snapFlags != 0:
		return fmt.Errorf("%w: unknown flags %#x", ErrInvalidSnapshot, flags)
	case flags&topoOnly != 0 && (st.streak == 0 || flags&hasGraph == 0):
		return fmt.Errorf("%w: topology streak flag without a streak and a graph", ErrInvalidSnapshot)
	case !isSortedSet(st.graph.nodeSet()) || !isSortedSet(st.graph.edgeSet()):
		return fmt.Errorf("%w: graph hashes not strictly ascending", ErrInvalidSnapshot)
	}
	for i, x := range st.base {
		if math.IsNaN(x) || math.Abs(x) > MaxCount {
			return fmt.Errorf("%w: baseline %s is %v", ErrInvalidSnapshot, CountNames[i], x)
		}
	}
	return nil
}

// reader reads fixed-width little-endian fields and remembers the first
// error, so decode checks once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: truncated", ErrInvalidSnapshot)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if v := r.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.bytes(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.bytes(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}
