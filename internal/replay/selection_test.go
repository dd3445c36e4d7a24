package replay

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/beacon"
)

var now = time.Date(2026, 1, 19, 12, 0, 0, 0, time.UTC)

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"2026-01-19T15:30:00Z", time.Date(2026, 1, 19, 15, 30, 0, 0, time.UTC), false},
		{"2026-01-19T15:30:00.250+02:00", time.Date(2026, 1, 19, 13, 30, 0, 250e6, time.UTC), false},
		{"2026-01-19T15:30", time.Date(2026, 1, 19, 15, 30, 0, 0, time.UTC), false},
		{"2026-01-19T15:30:05", time.Date(2026, 1, 19, 15, 30, 5, 0, time.UTC), false},
		{"2026-01-19", time.Date(2026, 1, 19, 0, 0, 0, 0, time.UTC), false},
		{"now", now, false},
		{"-90m", now.Add(-90 * time.Minute), false},
		{"-2d", now.Add(-48 * time.Hour), false},
		{"-1.5d", now.Add(-36 * time.Hour), false},
		{"", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"-", time.Time{}, true},
		{"-0s", time.Time{}, true},
		{"19/01/2026", time.Time{}, true},
	} {
		got, err := ParseTime(tc.in, now)
		if (err != nil) != tc.err || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func parseSelection(args ...string) (Selection, error) {
	var s Selection
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s.Register(fs, now)
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	return s, s.Validate()
}

func TestSelectionFlags(t *testing.T) {
	s, err := parseSelection("-from", "2026-01-19T10:00:00Z", "-to", "-1h", "-sites", "dc-01, dc-02", "-sites", "dc-01,dc-03", "-events", "flow_observed")
	if err != nil {
		t.Fatal(err)
	}
	if !s.From.Equal(time.Date(2026, 1, 19, 10, 0, 0, 0, time.UTC)) || !s.To.Equal(now.Add(-time.Hour)) {
		t.Errorf("times %v %v", s.From, s.To)
	}
	if !slices.Equal(s.Sites, []string{"dc-01", "dc-02", "dc-03"}) || !slices.Equal(s.Events, []string{"flow_observed"}) {
		t.Errorf("lists %v %v", s.Sites, s.Events)
	}
	if got := s.String(); got != "-from 2026-01-19T10:00:00Z -to 2026-01-19T11:00:00Z -sites dc-01,dc-02,dc-03 -events flow_observed" {
		t.Errorf("String() = %q", got)
	}
}

func TestSelectionErrorsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"-from", "tomorrow"}, "-from"},
		{[]string{"-to", "2026-13-01"}, "-to"},
		{[]string{"-from", "2026-01-19T10:00:00Z", "-to", "2026-01-19T10:00:00Z"}, "-to"},
		{[]string{"-from", "2026-01-19T11:00:00Z", "-to", "2026-01-19T10:00:00Z"}, "-to"},
		{[]string{"-arrived-from", "2026-01-19T10:00:00.2Z", "-arrived-to", "2026-01-19T10:00:00.9Z"}, "-arrived-to"},
		{[]string{"-arrived-from", "1960-01-01"}, "-arrived-from"},
		{[]string{"-sites", "a,,b"}, "-sites"},
		{[]string{"-events", " "}, "-events"},
	} {
		_, err := parseSelection(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%v: error %v, want one naming %s", tc.args, err, tc.flag)
		}
	}
	if _, err := parseSelection("-from", "2026-01-19T11:00:00Z", "-to", "2026-01-19T10:00:00Z"); !errors.Is(err, ErrInvalidSelection) {
		t.Errorf("an empty range: %v, want ErrInvalidSelection", err)
	}
}

func TestSelectionMatch(t *testing.T) {
	ts := time.Date(2026, 1, 19, 10, 0, 0, 0, time.UTC)
	b := &beacon.Beacon{Site: "dc-01", Event: "cluster_heartbeat", Time: ts}
	arrived := ts.Add(1500 * time.Millisecond) // 10:00:01.5, 10:00:01 at whole seconds
	for _, tc := range []struct {
		sel  Selection
		want bool
	}{
		{Selection{}, true},
		{Selection{From: ts, To: ts.Add(time.Nanosecond)}, true},
		{Selection{From: ts.Add(time.Nanosecond)}, false},
		{Selection{To: ts}, false},
		{Selection{Sites: []string{"dc-02", "dc-01"}}, true},
		{Selection{Sites: []string{"dc_01"}}, false}, // same subject token, other site
		{Selection{Events: []string{"flow_observed"}}, false},
		{Selection{ArrivedFrom: ts.Add(time.Second)}, true},
		{Selection{ArrivedFrom: ts.Add(1200 * time.Millisecond)}, false}, // rounded up to 10:00:02
		{Selection{ArrivedTo: ts.Add(2 * time.Second)}, true},
		{Selection{ArrivedTo: ts.Add(time.Second)}, false},
		{Selection{ArrivedTo: ts.Add(1100 * time.Millisecond)}, true}, // rounded up to 10:00:02
	} {
		if got := tc.sel.Match(b, arrived); got != tc.want {
			t.Errorf("%+v: Match = %v, want %v", tc.sel, got, tc.want)
		}
	}
}

func TestSelectionSubjects(t *testing.T) {
	for _, tc := range []struct {
		sel  Selection
		want []string
	}{
		{Selection{}, []string{"rtt.beacon.>", "rtt.batch", "rtt.batch.>"}},
		{Selection{Sites: []string{"dc 1", "dc_1", "dc-2"}}, []string{"rtt.beacon.dc-2.*", "rtt.beacon.dc_1.*", "rtt.batch.dc-2", "rtt.batch.dc_1", "rtt.batch"}},
		{Selection{Events: []string{"flow_observed"}}, []string{"rtt.beacon.*.flow_observed", "rtt.batch", "rtt.batch.>"}},
		{Selection{Sites: []string{"a"}, Events: []string{"x", "y"}}, []string{"rtt.beacon.a.x", "rtt.beacon.a.y", "rtt.batch.a", "rtt.batch"}},
	} {
		if got := tc.sel.Subjects(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: Subjects = %v, want %v", tc.sel, got, tc.want)
		}
	}
	many := Selection{Sites: make([]string, 20), Events: make([]string, 20)}
	for i := range 20 {
		many.Sites[i], many.Events[i] = "s"+string(rune('a'+i)), "e"+string(rune('a'+i))
	}
	if got := many.Subjects(); len(got) != 41 || got[0] != "rtt.beacon.sa.*" || got[20] != "rtt.batch.sa" {
		t.Errorf("400 site and event pairs: %v, want one filter per site", got)
	}
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"rtt", "-sites", "dc 1,it's", "-from", "2026-01-19T10:00:00Z"})
	want := `rtt -sites 'dc 1,it'\''s' -from 2026-01-19T10:00:00Z`
	if got != want {
		t.Errorf("shellJoin = %s, want %s", got, want)
	}
}
