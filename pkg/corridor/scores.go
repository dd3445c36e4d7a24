package corridor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// DefaultAlpha is the EWMA weight [NewScores] uses when given an alpha
// outside (0, 1].
const DefaultAlpha = 0.2

// snapshotVersion is the first byte of every snapshot [Scores.Snapshot]
// writes. A new layout gets a new number; Load keeps reading the old ones.
const snapshotVersion = 1

// ErrInvalidSnapshot is wrapped by every error [Scores.Load] returns.
var ErrInvalidSnapshot = errors.New("invalid corridor score snapshot")

// State is the running state of one key of [Scores].
type State struct {
	// Running is the EWMA of the observed Alignment.Score, in [0,1].
	Running float64
	// Total counts applied observations, On those that were on corridor.
	Total, On uint64
	// Seq is the stream sequence of the last applied observation.
	Seq uint64
}

// Scores keeps a running alignment score per key, typically one key per
// (site, corridor) pair: an exponentially weighted moving average of
// Alignment.Score and the counts of observations and of on-corridor
// observations. Each key remembers the stream sequence of its last applied
// observation, so redelivered or replayed messages do not count twice.
//
// A Scores is not safe for concurrent use.
type Scores struct {
	alpha   float64
	entries map[string]*State
	dirty   map[string]struct{}
}

// NewScores returns an empty Scores whose EWMA gives weight alpha to each new
// observation. An alpha outside (0, 1] (or NaN) is replaced by
// [DefaultAlpha]; validate configuration before calling if that matters.
func NewScores(alpha float64) *Scores {
	if !(alpha > 0 && alpha <= 1) {
		alpha = DefaultAlpha
	}
	return &Scores{alpha: alpha, entries: map[string]*State{}, dirty: map[string]struct{}{}}
}

// Alpha returns the EWMA weight in use.
func (s *Scores) Alpha() float64 { return s.alpha }

// Observe folds alignment a, read at stream sequence seq, into the state of
// key. If key already applied an observation with a sequence >= seq, nothing
// changes and applied is false. Otherwise the running score becomes a.Score
// for the key's first observation and running + alpha*(a.Score - running)
// after that; total grows by one, on by one when a.OnCorridor; the key is
// marked dirty. The returned values are the key's state after the call. A
// Score outside [0,1] is clamped first.
func (s *Scores) Observe(key string, seq uint64, a Alignment) (running float64, total, on uint64, applied bool) {
	score := clamp01(a.Score)
	st, ok := s.entries[key]
	if ok && seq <= st.Seq {
		return st.Running, st.Total, st.On, false
	}
	if !ok {
		st = &State{Running: score}
		s.entries[key] = st
	} else {
		st.Running = clamp01(st.Running + s.alpha*(score-st.Running))
	}
	st.Seq = seq
	st.Total++
	if a.OnCorridor {
		st.On++
	}
	s.dirty[key] = struct{}{}
	return st.Running, st.Total, st.On, true
}

// Get returns the state of key and whether the key has one.
func (s *Scores) Get(key string) (State, bool) {
	st, ok := s.entries[key]
	if !ok {
		return State{}, false
	}
	return *st, true
}

// Dirty returns, sorted, the keys changed by Observe since the last
// [Scores.ClearDirty]. Keys set by [Scores.Load] are not dirty.
func (s *Scores) Dirty() []string {
	keys := make([]string, 0, len(s.dirty))
	for k := range s.dirty {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ClearDirty forgets which keys changed, typically after their snapshots
// were stored.
func (s *Scores) ClearDirty() { clear(s.dirty) }

// Snapshot encodes the state of key, or returns false if key has none.
//
// Layout (version 1): one version byte (1), then the last applied sequence,
// total and on as unsigned varints (encoding/binary), then the running score
// as 8 bytes of IEEE 754 bits, little endian. At most 39 bytes.
func (s *Scores) Snapshot(key string) ([]byte, bool) {
	st, ok := s.entries[key]
	if !ok {
		return nil, false
	}
	return encodeState(*st), true
}

func encodeState(st State) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+8)
	b = append(b, snapshotVersion)
	b = binary.AppendUvarint(b, st.Seq)
	b = binary.AppendUvarint(b, st.Total)
	b = binary.AppendUvarint(b, st.On)
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(st.Running))
}

// Load replaces the state of key by the one encoded in b, as written by
// [Scores.Snapshot]. It rejects, leaving s unchanged, unknown versions,
// truncated or trailing bytes, non-minimal varints, a running score outside
// [0,1], on > total and total = 0; the error wraps [ErrInvalidSnapshot]. A
// loaded key is not marked dirty: its state is the stored one.
func (s *Scores) Load(key string, b []byte) error {
	st, err := decodeState(b)
	if err != nil {
		return err
	}
	s.entries[key] = &st
	delete(s.dirty, key)
	return nil
}

func decodeState(b []byte) (State, error) {
	bad := func(format string, args ...any) (State, error) {
		return State{}, fmt.Errorf("%w: %s", ErrInvalidSnapshot, fmt.Sprintf(format, args...))
	}
	if len(b) == 0 {
		return bad("empty")
	}
	if b[0] != snapshotVersion {
		return bad("unknown version %d", b[0])
	}
	rest := b[1:]
	var fields [3]uint64
	for i, name := range []string{"seq", "total", "on"} {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return bad("%s: bad varint", name)
		}
		fields[i] = v
		rest = rest[n:]
	}
	if len(rest) != 8 {
		return bad("score: want 8 bytes, have %d", len(rest))
	}
	st := State{
		Seq:     fields[0],
		Total:   fields[1],
		On:      fields[2],
		Running: math.Float64frombits(binary.LittleEndian.Uint64(rest)),
	}
	if !(st.Running >= 0 && st.Running <= 1) {
		return bad("score %v outside [0,1]", st.Running)
	}
	if st.Total == 0 {
		return bad("total is 0")
	}
	if st.On > st.Total {
		return bad("on %d > total %d", st.On, st.Total)
	}
	// One state, one encoding: refusing non-minimal varints keeps
	// Load(b) followed by Snapshot returning exactly b.
	if !bytes.Equal(encodeState(st), b) {
		return bad("non-canonical encoding")
	}
	return st, nil
}

// Forget drops key's state, as if it had never been observed (the caller
// then reloads it from its store). Used to undo observations whose effects
// could not be made durable.
func (s *Scores) Forget(key string) {
	delete(s.entries, key)
	delete(s.dirty, key)
}
