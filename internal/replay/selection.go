package replay

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rtt-dev/rtt/pkg/batch"
	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/natsx"
)

// ErrEmptySelection is wrapped by the error of a replay whose selection
// matched no beacon.
var ErrEmptySelection = errors.New("empty selection")

// ErrInvalidSelection is wrapped by every error of Selection.Validate and of
// the selection flags.
var ErrInvalidSelection = errors.New("invalid selection")

// Selection says which beacons a replay takes: those whose event time (ts)
// lies in [From, To), whose arrival time (Rtt-Received-At, received_at in
// ClickHouse) lies in [ArrivedFrom, ArrivedTo), of one of Sites and one of
// Events. A zero time or an empty list does not restrict.
//
// Arrival times are compared at whole seconds, the resolution ClickHouse
// keeps, so the stream and ClickHouse select the same beacons. Event times
// are compared exactly.
type Selection struct {
	From, To               time.Time
	ArrivedFrom, ArrivedTo time.Time
	Sites, Events          []string
}

// Register adds the selection flags to fs: -from, -to, -arrived-from,
// -arrived-to, -sites and -events. now anchors relative times ("-2h").
func (s *Selection) Register(fs *flag.FlagSet, now time.Time) {
	timeFlag := func(dst *time.Time, name, usage string) {
		fs.Func(name, usage, func(v string) error {
			t, err := ParseTime(v, now)
			if err != nil {
				return err
			}
			*dst = t
			return nil
		})
	}
	timeFlag(&s.From, "from", "first event time (ts) selected, inclusive: RFC 3339, 2006-01-02[T15:04] (UTC), now, or -90m / -2d before now")
	timeFlag(&s.To, "to", "event time (ts) where the selection ends, exclusive (same forms as -from)")
	timeFlag(&s.ArrivedFrom, "arrived-from", "first arrival time (Rtt-Received-At) selected, inclusive, whole seconds; also where the stream is read from")
	timeFlag(&s.ArrivedTo, "arrived-to", "arrival time where the selection ends, exclusive, whole seconds")
	listFlag := func(dst *[]string, name, usage string) {
		fs.Func(name, usage, func(v string) error {
			for _, x := range strings.Split(v, ",") {
				x = strings.TrimSpace(x)
				if x == "" {
					return errors.New("empty name in the list")
				}
				if !slices.Contains(*dst, x) {
					*dst = append(*dst, x)
				}
			}
			return nil
		})
	}
	listFlag(&s.Sites, "sites", "comma-separated sites to select, exact names (repeatable; default all)")
	listFlag(&s.Events, "events", "comma-separated event types to select, e.g. cluster_heartbeat,topology_snapshot (repeatable; default all)")
}

// ParseTime reads a selection bound: RFC 3339 (with or without fractions
// of a second), 2006-01-02T15:04[:05] or 2006-01-02 in UTC, "now", or a
// negative duration before now ("-90m", "-2h", "-7d").
func ParseTime(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return time.Time{}, errors.New("empty time")
	case v == "now":
		return now.UTC(), nil
	case strings.HasPrefix(v, "-"):
		d, err := parseDuration(v[1:])
		if err != nil || d <= 0 {
			return time.Time{}, fmt.Errorf("%q is not a duration before now such as -90m, -2h or -7d", v)
		}
		return now.Add(-d).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want RFC 3339 (2026-01-19T15:30:00Z), 2026-01-19[T15:30] (UTC), now, or -2h", v)
}

// parseDuration accepts Go durations and days ("7d", "1.5d").
func parseDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		var days float64
		if _, err := fmt.Sscanf(strings.TrimSuffix(s, "d"), "%g", &days); err != nil {
			return 0, err
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

// Validate reports the first unusable bound or list, naming its flag; the
// error wraps ErrInvalidSelection.
func (s Selection) Validate() error {
	bad := func(flag, format string, args ...any) error {
		return fmt.Errorf("%w: -%s: %s", ErrInvalidSelection, flag, fmt.Sprintf(format, args...))
	}
	for _, b := range []struct {
		flag string
		t    time.Time
	}{{"from", s.From}, {"to", s.To}, {"arrived-from", s.ArrivedFrom}, {"arrived-to", s.ArrivedTo}} {
		if !b.t.IsZero() && (b.t.Before(beacon.Earliest) || b.t.After(beacon.Latest)) {
			return bad(b.flag, "%s lies outside the times a beacon can have (%s to %s)", b.t.Format(time.RFC3339), beacon.Earliest.Format(time.DateOnly), beacon.Latest.Format(time.DateOnly))
		}
	}
	if !s.From.IsZero() && !s.To.IsZero() && !s.To.After(s.From) {
		return bad("to", "%s is not after -from %s: the range is empty", s.To.Format(time.RFC3339Nano), s.From.Format(time.RFC3339Nano))
	}
	af, at := s.arrivalBounds()
	if !af.IsZero() && !at.IsZero() && !at.After(af) {
		return bad("arrived-to", "%s is not after -arrived-from %s at whole seconds: the range is empty", s.ArrivedTo.Format(time.RFC3339Nano), s.ArrivedFrom.Format(time.RFC3339Nano))
	}
	for _, l := range []struct {
		flag  string
		names []string
	}{{"sites", s.Sites}, {"events", s.Events}} {
		for _, n := range l.names {
			if strings.TrimSpace(n) == "" {
				return bad(l.flag, "empty name")
			}
		}
	}
	return nil
}

// arrivalBounds are the arrival bounds at whole seconds: from rounded up,
// to rounded up, so that [from, to) at seconds holds what a second-resolution
// arrival time can match.
func (s Selection) arrivalBounds() (from, to time.Time) {
	return ceilSecond(s.ArrivedFrom), ceilSecond(s.ArrivedTo)
}

func ceilSecond(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	if c := t.Truncate(time.Second); !c.Equal(t) {
		return c.Add(time.Second)
	}
	return t
}

// Match reports whether beacon b, which arrived at received, is selected.
func (s Selection) Match(b *beacon.Beacon, received time.Time) bool {
	if !s.From.IsZero() && b.Time.Before(s.From) {
		return false
	}
	if !s.To.IsZero() && !b.Time.Before(s.To) {
		return false
	}
	af, at := s.arrivalBounds()
	r := received.Truncate(time.Second)
	if !af.IsZero() && r.Before(af) {
		return false
	}
	if !at.IsZero() && !r.Before(at) {
		return false
	}
	if len(s.Sites) > 0 && !slices.Contains(s.Sites, b.Site) {
		return false
	}
	if len(s.Events) > 0 && !slices.Contains(s.Events, b.Event) {
		return false
	}
	return true
}

// maxFilterSubjects bounds the subject filters of the stream consumer; a
// larger product of sites and events filters by sites alone (or not at all)
// and leaves the rest to Match.
const maxFilterSubjects = 256

// Subjects returns the JetStream subject filters that cover the selection,
// without duplicates (two names can share a subject token): the single
// beacons' subjects and the batches that may hold selected beacons (see
// pkg/batch). Match still decides: a token may stand for several names,
// and a batch holds beacons of other sites and events too.
func (s Selection) Subjects() []string {
	sites := tokens(s.Sites)
	events := tokens(s.Events)
	var out []string
	switch {
	case len(sites) > 0 && len(events) > 0 && len(sites)*len(events) <= maxFilterSubjects:
		for _, st := range sites {
			for _, ev := range events {
				out = append(out, "rtt.beacon."+st+"."+ev)
			}
		}
		out = append(out, siteBatches(sites)...)
	case len(sites) > 0 && len(sites) <= maxFilterSubjects:
		for _, st := range sites {
			out = append(out, "rtt.beacon."+st+".*")
		}
		out = append(out, siteBatches(sites)...)
	case len(sites) == 0 && len(events) > 0 && len(events) <= maxFilterSubjects:
		for _, ev := range events {
			out = append(out, "rtt.beacon.*."+ev)
		}
		out = append(out, natsx.SubjectBatch, natsx.SubjectBatches)
	default:
		out = []string{natsx.SubjectBeacons, natsx.SubjectBatch, natsx.SubjectBatches}
	}
	return out
}

// siteBatches are the batch subjects that may hold beacons of the sites
// with subject tokens sites: each site's own and the batches of several
// sites.
func siteBatches(sites []string) []string {
	out := make([]string, 0, len(sites)+1)
	for _, st := range sites {
		out = append(out, batch.Subject(st))
	}
	return append(out, batch.Subject(""))
}

func tokens(names []string) []string {
	var out []string
	for _, n := range names {
		if t := beacon.Token(n); !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// Args returns the selection as the flags that give it.
func (s Selection) Args() []string {
	var args []string
	add := func(flag string, t time.Time) {
		if !t.IsZero() {
			args = append(args, "-"+flag, t.Format(time.RFC3339Nano))
		}
	}
	add("from", s.From)
	add("to", s.To)
	add("arrived-from", s.ArrivedFrom)
	add("arrived-to", s.ArrivedTo)
	if len(s.Sites) > 0 {
		args = append(args, "-sites", strings.Join(s.Sites, ","))
	}
	if len(s.Events) > 0 {
		args = append(args, "-events", strings.Join(s.Events, ","))
	}
	return args
}

// String describes the selection as the flags that give it, quoted for a
// shell.
func (s Selection) String() string {
	args := s.Args()
	if len(args) == 0 {
		return "(every beacon)"
	}
	return shellJoin(args)
}

// shellJoin quotes each argument that needs it for a POSIX shell.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/,=+@%-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// selectionJSON is how a run records its selection.
type selectionJSON struct {
	From        *time.Time `json:"from,omitempty"`
	To          *time.Time `json:"to,omitempty"`
	ArrivedFrom *time.Time `json:"arrived_from,omitempty"`
	ArrivedTo   *time.Time `json:"arrived_to,omitempty"`
	Sites       []string   `json:"sites,omitempty"`
	Events      []string   `json:"events,omitempty"`
	Source      string     `json:"source"`
}

func (s Selection) record(source string) selectionJSON {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return selectionJSON{From: opt(s.From), To: opt(s.To), ArrivedFrom: opt(s.ArrivedFrom), ArrivedTo: opt(s.ArrivedTo),
		Sites: s.Sites, Events: s.Events, Source: source}
}
