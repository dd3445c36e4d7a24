package derived

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/rtt-dev/rtt/pkg/corridor"
)

// AppendJSON appends the JSON encoding of a to b: the bytes json.Marshal
// writes, without its reflection, for the corridor service's hot path.
// TestAlignmentAppendJSON holds the two equal. A value json.Marshal refuses
// (a non-finite number, a time it cannot encode) gives its error.
func (a *Alignment) AppendJSON(b []byte) ([]byte, error) {
	if !finite(a.RunningScore, a.LatencyMS, a.BudgetMS, a.LatencyRatio, a.Score) {
		_, err := json.Marshal(a)
		return b, err
	}
	ts, err := a.TS.MarshalJSON()
	if err != nil {
		return b, err
	}
	b = append(b, `{"record_id":`...)
	b = appendString(b, a.RecordID)
	if a.RunID != "" {
		b = append(b, `,"run_id":`...)
		b = appendString(b, a.RunID)
	}
	b = append(b, `,"site":`...)
	b = appendString(b, a.Site)
	b = append(b, `,"ts":`...)
	b = append(b, ts...)
	b = append(b, `,"source":`...)
	b = appendString(b, a.Source)
	b = append(b, `,"source_event_id":`...)
	b = appendString(b, a.SourceEventID)
	b = append(b, `,"flow_index":`...)
	b = strconv.AppendInt(b, int64(a.FlowIndex), 10)
	b = append(b, `,"path":`...)
	b = appendStrings(b, a.Path)
	b = append(b, `,"running_score":`...)
	b = appendFloat(b, a.RunningScore)
	b = append(b, `,"total":`...)
	b = strconv.AppendUint(b, a.Total, 10)
	b = append(b, `,"on_total":`...)
	b = strconv.AppendUint(b, a.OnTotal, 10)
	b = append(b, `,"corridor":`...)
	b = appendString(b, a.Corridor)
	b = append(b, `,"matched":`...)
	b = strconv.AppendBool(b, a.Matched)
	b = append(b, `,"on_corridor":`...)
	b = strconv.AppendBool(b, a.OnCorridor)
	b = append(b, `,"path_match":`...)
	b = strconv.AppendBool(b, a.PathMatch)
	b = append(b, `,"deviating_hops":`...)
	b = appendHops(b, a.DeviatingHops)
	b = append(b, `,"latency_ms":`...)
	b = appendFloat(b, a.LatencyMS)
	b = append(b, `,"budget_ms":`...)
	b = appendFloat(b, a.BudgetMS)
	b = append(b, `,"latency_ratio":`...)
	b = appendFloat(b, a.LatencyRatio)
	b = append(b, `,"within_budget":`...)
	b = strconv.AppendBool(b, a.WithinBudget)
	b = append(b, `,"score":`...)
	b = appendFloat(b, a.Score)
	return append(b, '}'), nil
}

func appendHops(b []byte, hops []corridor.Hop) []byte {
	if hops == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, h := range hops {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(h.Index), 10)
		if h.Expected != "" {
			b = append(b, `,"expected":`...)
			b = appendString(b, h.Expected)
		}
		if h.Observed != "" {
			b = append(b, `,"observed":`...)
			b = appendString(b, h.Observed)
		}
		b = append(b, `,"kind":`...)
		b = appendString(b, h.Kind)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendString writes s quoted. Strings of printable ASCII without the
// characters encoding/json escapes go as they are; any other is left to
// encoding/json, so escapes are always its own.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloat writes a finite f as encoding/json does: shortest
// representation, exponent form below 1e-6 and from 1e21, and an exponent
// without a leading zero.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func finite(fs ...float64) bool {
	for _, f := range fs {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return true
}
