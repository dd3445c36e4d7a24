package grafana

import (
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// This file expands a panel's rawSql the way Grafana and the ClickHouse
// plugin do before the SQL reaches ClickHouse, in their order:
//
//  1. Grafana's frontend replaces dashboard variables (${site:singlequote}).
//  2. The plugin's backend runs sqlutil.Interpolate (grafana-plugin-sdk-go,
//     data/sqlutil/macros.go) with the plugin's macros (pkg/macros/macros.go
//     of grafana/clickhouse-datasource v4) plus sqlutil's defaults for the
//     names the plugin does not define.
//
// The port keeps the quirks that matter: a macro name ends at a word
// boundary, and a macro's arguments are whatever lies between the first "("
// after the macro and its matching ")", even for a macro that takes none. So
// `$__interval_s AS x, count()` swallows "AS x, count()" as arguments and
// becomes "60"; the dashboards write argument-less macros in parentheses,
// `($__interval_s)`, where the first parenthesis after them closes.

// queryContext is what Grafana sends with a query: the dashboard's time
// range and the interval it chose for the panel.
type queryContext struct {
	From, To time.Time
	Interval time.Duration
}

// macroFunc is the shape of the plugin's macros: the query context and the
// macro's arguments, split on commas and trimmed.
type macroFunc func(q queryContext, args []string) (string, error)

func timeToDate(t time.Time) string { return fmt.Sprintf("toDate('%s')", t.Format("2006-01-02")) }

func timeToDateTime(t time.Time) string { return fmt.Sprintf("toDateTime(%d)", t.Unix()) }

func timeToDateTime64(t time.Time) string {
	return fmt.Sprintf("fromUnixTimestamp64Milli(%d)", t.UnixMilli())
}

func oneArg(args []string, f func(string) string) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("unexpected number of arguments: expected 1 argument, received %d", len(args))
	}
	return f(args[0]), nil
}

// pluginMacros are grafana-clickhouse-datasource v4's macros.
var pluginMacros = map[string]macroFunc{
	"fromTime":    func(q queryContext, _ []string) (string, error) { return timeToDateTime(q.From), nil },
	"toTime":      func(q queryContext, _ []string) (string, error) { return timeToDateTime(q.To), nil },
	"fromTime_ms": func(q queryContext, _ []string) (string, error) { return timeToDateTime64(q.From), nil },
	"toTime_ms":   func(q queryContext, _ []string) (string, error) { return timeToDateTime64(q.To), nil },
	"timeFilter": func(q queryContext, args []string) (string, error) {
		return oneArg(args, func(c string) string {
			return fmt.Sprintf("%s >= %s AND %s <= %s", c, timeToDateTime(q.From), c, timeToDateTime(q.To))
		})
	},
	"timeFilter_ms": func(q queryContext, args []string) (string, error) {
		return oneArg(args, func(c string) string {
			return fmt.Sprintf("%s >= %s AND %s <= %s", c, timeToDateTime64(q.From), c, timeToDateTime64(q.To))
		})
	},
	"dateFilter": func(q queryContext, args []string) (string, error) {
		return oneArg(args, func(c string) string {
			return fmt.Sprintf("%s >= %s AND %s <= %s", c, timeToDate(q.From), c, timeToDate(q.To))
		})
	},
	"dateTimeFilter": dateTimeFilter,
	"dt":             dateTimeFilter,
	"timeInterval": func(q queryContext, args []string) (string, error) {
		return oneArg(args, func(c string) string {
			return fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", c, int(math.Max(q.Interval.Seconds(), 1)))
		})
	},
	"timeInterval_ms": func(q queryContext, args []string) (string, error) {
		return oneArg(args, func(c string) string {
			return fmt.Sprintf("toStartOfInterval(toDateTime64(%s, 3), INTERVAL %d millisecond)", c, int(math.Max(float64(q.Interval.Milliseconds()), 1)))
		})
	},
	"interval_s": func(q queryContext, _ []string) (string, error) {
		return fmt.Sprintf("%d", int(math.Max(q.Interval.Seconds(), 1))), nil
	},
	// sqlutil's defaults, used because the plugin does not define them.
	"timeFrom": func(q queryContext, args []string) (string, error) {
		return oneArg(args, func(c string) string { return fmt.Sprintf("%s >= '%s'", c, q.From.UTC().Format(time.RFC3339)) })
	},
	"timeTo": func(q queryContext, args []string) (string, error) {
		return oneArg(args, func(c string) string { return fmt.Sprintf("%s <= '%s'", c, q.To.UTC().Format(time.RFC3339)) })
	},
	"timeGroup": func(q queryContext, args []string) (string, error) {
		return "", fmt.Errorf("$__timeGroup expands to datepart(), which ClickHouse does not have")
	},
	"table":  func(queryContext, []string) (string, error) { return "", nil },
	"column": func(queryContext, []string) (string, error) { return "", nil },
}

func dateTimeFilter(q queryContext, args []string) (string, error) {
	if len(args) != 2 {
		return "", fmt.Errorf("unexpected number of arguments: expected 2 arguments, received %d", len(args))
	}
	return fmt.Sprintf("(%s >= %s AND %s <= %s) AND (%s >= %s AND %s <= %s)",
		args[0], timeToDate(q.From), args[0], timeToDate(q.To),
		args[1], timeToDateTime(q.From), args[1], timeToDateTime(q.To)), nil
}

// supportedMacros are the macros the dashboards may use: each expands to
// SQL that ClickHouse 18.16 understands. The others expand to
// toStartOfInterval, DateTime64 functions, RFC 3339 strings compared with
// DateTime, or nothing at all.
var supportedMacros = []string{"timeFilter", "fromTime", "toTime", "interval_s"}

// macroMatches finds the occurrences of $__name in sql with their argument
// text, as sqlutil's getMacroMatches does.
func macroMatches(sql, name string) [][2]string {
	rgx := regexp.MustCompile(`\$__` + regexp.QuoteMeta(name) + `\b`)
	var out [][2]string
	for _, loc := range rgx.FindAllStringIndex(sql, -1) {
		rest := sql[loc[0]:]
		end, argStart, depth := 0, 0, 0
	scan:
		for i, r := range rest {
			if depth == 0 && end > 0 {
				break
			}
			switch r {
			case '(':
				depth++
				if argStart == 0 {
					argStart = i + 1
				}
			case ')':
				if depth == 0 {
					end = 0
					break scan
				}
				depth--
				end = i + 1
			}
		}
		if end == 0 {
			end = loc[1] - loc[0]
		}
		args := ""
		if argStart > 0 {
			args = rest[argStart : end-1]
		}
		out = append(out, [2]string{rest[:end], args})
	}
	return out
}

// interpolate expands the plugin's macros in sql, visiting the macros in
// order (Go's map iteration makes the real order random).
func interpolate(sql string, q queryContext, order []string) (string, error) {
	for _, name := range order {
		for _, m := range macroMatches(sql, name) {
			var args []string
			for _, a := range strings.Split(m[1], ",") {
				args = append(args, strings.TrimSpace(a))
			}
			res, err := pluginMacros[name](q, args)
			if err != nil {
				return sql, fmt.Errorf("$__%s: %w", name, err)
			}
			sql = strings.ReplaceAll(sql, m[0], res)
		}
	}
	return sql, nil
}

// expandMacros expands sql in several random macro orders and fails unless
// they all agree: a query whose expansion depends on the order would work
// one time in Grafana and not the next.
func expandMacros(sql string, q queryContext) (string, error) {
	names := make([]string, 0, len(pluginMacros))
	for n := range pluginMacros {
		names = append(names, n)
	}
	slices.Sort(names)
	first, err := interpolate(sql, q, names)
	if err != nil {
		return "", err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 8 {
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		again, err := interpolate(sql, q, names)
		if err != nil {
			return "", err
		}
		if again != first {
			return "", fmt.Errorf("the expansion depends on the order of the macros:\n%s\n---\n%s", first, again)
		}
	}
	return first, nil
}

// templateVar matches Grafana's variable syntaxes $name, ${name} and
// ${name:format}.
var templateVar = regexp.MustCompile(`\$\{(\w+)(?::(\w+))?\}|\$(\w+)`)

// expandVariables replaces the dashboard variables in sql as Grafana's
// frontend does with "All" selected (every value of the variable), leaving
// the $__ names to the backend. Only the formats the dashboards use are
// supported.
func expandVariables(sql string, vars map[string][]string) (string, error) {
	var err error
	out := templateVar.ReplaceAllStringFunc(sql, func(m string) string {
		sub := templateVar.FindStringSubmatch(m)
		name, format := sub[1], sub[2]
		if name == "" {
			name = sub[3]
		}
		if strings.HasPrefix(name, "__") {
			return m
		}
		values, ok := vars[name]
		if !ok {
			err = fmt.Errorf("unknown dashboard variable %s", m)
			return m
		}
		switch format {
		case "singlequote", "":
			// The plugin formats a multi-value variable without a format as
			// a quoted list too.
			quoted := make([]string, len(values))
			for i, v := range values {
				quoted[i] = "'" + strings.ReplaceAll(v, "'", `\'`) + "'"
			}
			return strings.Join(quoted, ",")
		default:
			err = fmt.Errorf("variable format %q of %s is not supported here", format, m)
			return m
		}
	})
	return out, err
}

// TestMacroExpansion pins the port against what the plugin produces.
func TestMacroExpansion(t *testing.T) {
	q := queryContext{From: time.Unix(1700000000, 0), To: time.Unix(1700086400, 0), Interval: 60 * time.Second}
	for _, tc := range []struct{ in, want string }{
		{"WHERE $__timeFilter(ts)", "WHERE ts >= toDateTime(1700000000) AND ts <= toDateTime(1700086400)"},
		{"WHERE $__timeFilter( received_at ) AND x", "WHERE received_at >= toDateTime(1700000000) AND received_at <= toDateTime(1700086400) AND x"},
		{"intDiv(toUInt32(ts), ($__interval_s)) * ($__interval_s)", "intDiv(toUInt32(ts), (60)) * (60)"},
		{"toUInt32($__toTime) - toUInt32($__fromTime)", "toUInt32(toDateTime(1700086400)) - toUInt32(toDateTime(1700000000))"},
		{"$__fromTime_ms", "fromUnixTimestamp64Milli(1700000000000)"},
		{"$__timeInterval(ts)", "toStartOfInterval(toDateTime(ts), INTERVAL 60 second)"},
		// The pitfall: an argument-less macro followed by a "(" before any ")".
		{"SELECT $__interval_s AS s, count() FROM t", "SELECT 60 FROM t"},
		{"$__interval_s", "60"},
	} {
		got, err := expandMacros(tc.in, q)
		if err != nil || got != tc.want {
			t.Errorf("expand %q = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	short := queryContext{From: q.From, To: q.To, Interval: 200 * time.Millisecond}
	if got, _ := expandMacros("($__interval_s)", short); got != "(1)" {
		t.Errorf("an interval under a second gives %s, want (1)", got)
	}
	if _, err := expandMacros("$__timeFilter(a, b)", q); err == nil {
		t.Error("$__timeFilter with two arguments should fail")
	}

	got, err := expandVariables("site IN (${site:singlequote}) AND $__timeFilter(ts) AND x = $site", map[string][]string{"site": {"dc-00", "dc'1"}})
	if want := `site IN ('dc-00','dc\'1') AND $__timeFilter(ts) AND x = 'dc-00','dc\'1'`; err != nil || got != want {
		t.Errorf("expandVariables = %q, %v; want %q", got, err, want)
	}
	if _, err := expandVariables("${other}", nil); err == nil {
		t.Error("an unknown variable should fail")
	}
}
