package grafana

import (
	"context"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/rtt-dev/rtt/test/stacktest"
)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m, "../..")) }

// column is a result column as ClickHouse names and types it.
type column struct{ name, typ string }

// result is a query's columns and rows, each value as the driver scans it.
type result struct {
	sql  string
	cols []column
	rows [][]any
}

func (r result) col(name string) int {
	return slices.IndexFunc(r.cols, func(c column) bool { return c.name == name })
}

// float returns row i's value of the named column as a float64.
func (r result) float(t *testing.T, i int, name string) float64 {
	t.Helper()
	k := r.col(name)
	if k < 0 {
		t.Fatalf("no column %s in %v", name, r.cols)
	}
	f, ok := toFloat(r.rows[i][k])
	if !ok {
		t.Fatalf("column %s is %s, not a number", name, r.cols[k].typ)
	}
	return f
}

func toFloat(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return 0, false
}

func isNumeric(typ string) bool {
	return strings.HasPrefix(typ, "Int") || strings.HasPrefix(typ, "UInt") || strings.HasPrefix(typ, "Float")
}

func isDateTime(typ string) bool {
	return typ == "DateTime" || strings.HasPrefix(typ, "DateTime(")
}

// run executes sql and reads the whole result.
func run(ctx context.Context, conn driver.Conn, sql string) (result, error) {
	res := result{sql: sql}
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return res, err
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	for _, ct := range types {
		res.cols = append(res.cols, column{ct.Name(), ct.DatabaseTypeName()})
	}
	for rows.Next() {
		ptrs := make([]any, len(types))
		for i, ct := range types {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return res, err
		}
		row := make([]any, len(ptrs))
		for i, p := range ptrs {
			row[i] = reflect.ValueOf(p).Elem().Interface()
		}
		res.rows = append(res.rows, row)
	}
	return res, rows.Err()
}

// checkShape checks a panel's result against what its visualization needs.
func checkShape(p panel, r result) []string {
	var bad []string
	if len(r.rows) == 0 {
		return []string{"no rows"}
	}
	numeric := 0
	for _, c := range r.cols {
		if isNumeric(c.typ) {
			numeric++
		}
		if !isNumeric(c.typ) && !isDateTime(c.typ) && c.typ != "String" {
			bad = append(bad, fmt.Sprintf("column %s has type %s; panels here show numbers, strings and DateTime", c.name, c.typ))
		}
	}
	switch p.Type {
	case "timeseries":
		// sqlds turns a long frame (time, label strings, numbers) into one
		// series per label set; that needs the time first and ascending.
		if r.cols[0].name != "time" || !isDateTime(r.cols[0].typ) {
			bad = append(bad, fmt.Sprintf("first column is %s %s; a time series needs a DateTime column named time first", r.cols[0].name, r.cols[0].typ))
			break
		}
		for i := 1; i < len(r.rows); i++ {
			if r.rows[i][0].(time.Time).Before(r.rows[i-1][0].(time.Time)) {
				bad = append(bad, fmt.Sprintf("rows not in ascending time order at row %d", i))
				break
			}
		}
		if numeric == 0 {
			bad = append(bad, "no numeric column to plot")
		}
	case "stat", "gauge", "bargauge":
		if numeric == 0 {
			bad = append(bad, "no numeric column to show")
		}
	}
	if p.Type != "timeseries" {
		for _, o := range p.FieldConfig.Overrides {
			if name, _ := o.Matcher.Options.(string); o.Matcher.ID == "byName" && r.col(name) < 0 {
				bad = append(bad, fmt.Sprintf("field override for %q, which the query does not return", name))
			}
		}
	}
	for k, c := range r.cols {
		share := strings.HasSuffix(c.name, "_share") || c.name == "coherence" || strings.HasSuffix(c.name, "score")
		for i, row := range r.rows {
			f, ok := toFloat(row[k])
			if !ok {
				continue
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				bad = append(bad, fmt.Sprintf("column %s row %d is %v", c.name, i, f))
				break
			}
			if share && (f < 0 || f > 1) {
				bad = append(bad, fmt.Sprintf("column %s row %d is %v, outside [0, 1]", c.name, i, f))
				break
			}
		}
	}
	return bad
}

// expectations check what particular panels must show after the load
// generator's run, beyond their shape.
var expectations = map[string]func(t *testing.T, d pipelineData, r result){
	"rtt-heartbeats/Sites reporting": func(t *testing.T, d pipelineData, r result) {
		if n := r.float(t, 0, "sites"); n != float64(load.Sites) {
			t.Errorf("%v sites reporting, want %d", n, load.Sites)
		}
	},
	"rtt-heartbeats/Heartbeat regularity by site": func(t *testing.T, d pipelineData, r result) {
		if len(r.rows) != load.Sites {
			t.Errorf("%d sites, want %d", len(r.rows), load.Sites)
		}
		for i := range r.rows {
			// Heartbeats come every HeartbeatEvery of the generator's timeline.
			if m := r.float(t, i, "mean_interval_s"); math.Abs(m-load.HeartbeatEvery.Seconds()) > 0.02 {
				t.Errorf("row %d: mean interval %vs, want about %v", i, m, load.HeartbeatEvery)
			}
		}
	},
	"rtt-drift/Drift events": func(t *testing.T, d pipelineData, r result) {
		if n := r.float(t, 0, "drift_events"); n != float64(len(load.ChangeSites)) {
			t.Errorf("%v drift events, want one per changed site (%d)", n, len(load.ChangeSites))
		}
	},
	"rtt-topology/Structure changes": func(t *testing.T, d pipelineData, r result) {
		want := 0
		for _, ch := range d.stats.Changes {
			if ch.Rewired.Via != "" {
				want++
			}
		}
		if n := r.float(t, 0, "changes"); n != float64(want) {
			t.Errorf("%v structure changes, want %d (the rewired graphs)", n, want)
		}
	},
	"rtt-drift/Sites drifted": func(t *testing.T, d pipelineData, r result) {
		if n := r.float(t, 0, "sites_drifted"); n != float64(len(load.ChangeSites)) {
			t.Errorf("%v sites drifted, want the %d changed sites", n, len(load.ChangeSites))
		}
	},
	"rtt-coherence/Coherence by site over the time range": func(t *testing.T, d pipelineData, r result) {
		if len(r.rows) != load.Sites {
			t.Fatalf("%d sites, want %d", len(r.rows), load.Sites)
		}
		// The changed sites drifted and their traffic took a detour: each is
		// less coherent than every site that did not change.
		site := r.col("site")
		lowestSteady, highestChanged := 1.0, 0.0
		for i, row := range r.rows {
			changed := slices.Contains(load.ChangeSites, row[site].(string))
			drifted, coherence := r.float(t, i, "drifted_keys"), r.float(t, i, "coherence")
			if changed != (drifted > 0) {
				t.Errorf("%s: %v drifted keys (changed: %v)", row[site], drifted, changed)
			}
			if changed {
				highestChanged = max(highestChanged, coherence)
			} else {
				lowestSteady = min(lowestSteady, coherence)
			}
		}
		if highestChanged >= lowestSteady {
			t.Errorf("a changed site has coherence %v, a steady one %v", highestChanged, lowestSteady)
		}
	},
	"rtt-pipeline/Dead letters": func(t *testing.T, d pipelineData, r result) {
		// The poison message is dead-lettered by drift, corridor and the sink.
		if n := r.float(t, 0, "dead_letters"); n != 3 {
			t.Errorf("%v dead letters, want 3", n)
		}
	},
	"rtt-pipeline/Beacons stored": func(t *testing.T, d pipelineData, r result) {
		if n := r.float(t, 0, "beacons"); n != float64(load.Count) {
			t.Errorf("%v beacons, want %d", n, load.Count)
		}
	},
	"rtt-corridors/Flows checked": func(t *testing.T, d pipelineData, r result) {
		if n := r.float(t, 0, "flows"); n < float64(d.stats.Events["flow_observed"]) {
			t.Errorf("%v flows checked, fewer than the %d flow_observed beacons", n, d.stats.Events["flow_observed"])
		}
	},
}

// TestPanelQueries runs every ClickHouse query of every dashboard, expanded
// as Grafana and the plugin expand it, against the pipeline's data, and
// checks its columns and that it returns rows.
func TestPanelQueries(t *testing.T) {
	dashboards := loadDashboards(t)
	d := loadData(t)
	ctx := context.Background()
	to := time.Now().Add(time.Second)
	panels, queries := 0, 0
	for _, dash := range dashboards {
		t.Run(dash.UID, func(t *testing.T) {
			// Dashboard variables, evaluated as Grafana does on load, with
			// "All" selected.
			vars := map[string][]string{}
			for _, v := range dash.Templating.List {
				if v.Type != "query" {
					continue
				}
				sql, err := expandMacros(v.sql(), queryContext{From: to.Add(-24 * time.Hour), To: to, Interval: time.Minute})
				if err != nil {
					t.Fatalf("variable %s: %v", v.Name, err)
				}
				r, err := run(ctx, d.conn, sql)
				if err != nil {
					t.Fatalf("variable %s: %v\n%s", v.Name, err, sql)
				}
				for _, row := range r.rows {
					vars[v.Name] = append(vars[v.Name], fmt.Sprint(row[0]))
				}
				if len(vars[v.Name]) != load.Sites {
					t.Errorf("variable %s has values %v, want the %d sites", v.Name, vars[v.Name], load.Sites)
				}
			}
			for _, p := range dash.allPanels() {
				if p.Datasource == nil || p.Datasource.UID != clickhouseUID {
					continue
				}
				panels++
				for _, tg := range p.Targets {
					// Grafana picks the interval from the range and the panel's
					// width; try a coarse and the finest one.
					for _, interval := range []time.Duration{time.Minute, time.Second} {
						q := queryContext{From: to.Add(-24 * time.Hour), To: to, Interval: interval}
						sql, err := expandVariables(tg.RawSQL, vars)
						if err == nil {
							sql, err = expandMacros(sql, q)
						}
						if err != nil {
							t.Errorf("panel %q: %v", p.Title, err)
							continue
						}
						queries++
						start := time.Now()
						r, err := run(ctx, d.conn, sql)
						if err != nil {
							t.Errorf("panel %q (interval %v): %v\n%s", p.Title, interval, err, sql)
							continue
						}
						if took := time.Since(start); took > 5*time.Second {
							t.Errorf("panel %q took %v", p.Title, took)
						}
						for _, bad := range checkShape(p, r) {
							t.Errorf("panel %q (interval %v): %s\n%s", p.Title, interval, bad, sql)
						}
						if check := expectations[dash.UID+"/"+p.Title]; check != nil && len(r.rows) > 0 {
							check(t, d, r)
						}
					}
				}
			}
		})
	}
	t.Logf("%d ClickHouse panels, %d queries run", panels, queries)
}
