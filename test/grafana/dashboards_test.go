// Package grafana tests rtt's Grafana provisioning: the datasources, the
// dashboard provider and every dashboard under grafana/dashboards. The
// static tests check the JSON and the SQL rules (ClickHouse 18.16 and
// 23.8+, FINAL, macros the plugin expands to plain SQL); TestPanelQueries
// runs every ClickHouse panel's query, expanded as Grafana would, against a
// ClickHouse filled by the real pipeline and the load generator.
package grafana

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// root is the module root, relative to this package.
const root = "../.."

// Datasource uids the provisioning defines and the dashboards use.
const (
	clickhouseUID = "rtt-clickhouse"
	prometheusUID = "rtt-prometheus"
	clickhouseDS  = "grafana-clickhouse-datasource"
)

// Formats of a ClickHouse target (sqlutil.FormatQueryOption).
const (
	formatTimeSeries = 0
	formatTable      = 1
)

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	RefID      string `json:"refId"`
	Datasource *dsRef `json:"datasource"`
	EditorType string `json:"editorType"`
	QueryType  string `json:"queryType"`
	Format     *int   `json:"format"`
	RawSQL     string `json:"rawSql"`
	Expr       string `json:"expr"`
	// LegendFormat names the series of a Prometheus query ({{label}}).
	LegendFormat string `json:"legendFormat"`
}

type override struct {
	Matcher struct {
		ID      string `json:"id"`
		Options any    `json:"options"`
	} `json:"matcher"`
}

type panel struct {
	ID          int      `json:"id"`
	Type        string   `json:"type"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Datasource  *dsRef   `json:"datasource"`
	Targets     []target `json:"targets"`
	Panels      []panel  `json:"panels"` // of a row
	GridPos     *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	FieldConfig struct {
		Overrides []override `json:"overrides"`
	} `json:"fieldConfig"`
}

type variable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Datasource *dsRef `json:"datasource"`
	Query      any    `json:"query"`
	Multi      bool   `json:"multi"`
	IncludeAll bool   `json:"includeAll"`
}

// sql is the variable's query: a plain string, or an object with rawSql.
func (v variable) sql() string {
	switch q := v.Query.(type) {
	case string:
		return q
	case map[string]any:
		s, _ := q["rawSql"].(string)
		return s
	}
	return ""
}

type dashboard struct {
	file          string
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	Description   string  `json:"description"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

// allPanels returns the dashboard's panels, those inside rows included.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

// loadDashboards parses every dashboard file of the repository.
func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards under grafana/dashboards: %v", err)
	}
	var out []dashboard
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		d.file = filepath.Base(f)
		out = append(out, d)
	}
	return out
}

// rttTables are the tables of schemas/clickhouse, all ReplacingMergeTree.
var rttTables = []string{"beacons", "drift_events", "alignments", "topology_snapshots", "profiles", "diagnostics", "dead_letters"}

var (
	// forbidden are constructs ClickHouse 18.16 lacks (CLICKHOUSE-18.md).
	forbidden = regexp.MustCompile(`(?i)(DateTime64|now64|\w*Timestamp64\w*|toStartOfInterval|toStartOfFifteenMinutes|toStartOfTenMinutes|JSONExtract\w*|LowCardinality|\bneighbor\b)`)
	// queryParam is a server-side query parameter {name:Type}.
	queryParam = regexp.MustCompile(`(?:^|[^$])(\{\s*\w+\s*:\s*[\w()]+\s*\})`)
	// macroName finds every $__name.
	macroName = regexp.MustCompile(`\$__(\w+)`)
	// tableRef finds a table after FROM or JOIN (an ARRAY JOIN joins no
	// table), and whether FINAL follows it.
	tableRef = regexp.MustCompile(`(?i)\b(ARRAY\s+)?(?:FROM|JOIN)\s+([\w.]+)(\s+FINAL\b)?`)
)

var (
	// createTable is a CREATE TABLE of schemas/clickhouse with its columns.
	createTable = regexp.MustCompile(`(?s)CREATE TABLE IF NOT EXISTS \{db\}\.(\w+) \((.*?)\) ENGINE`)
	// columnDef is a column line inside it.
	columnDef = regexp.MustCompile(`(?m)^\s*(\w+)\s+\S`)
	// alias finds "<expression> AS name".
	alias = regexp.MustCompile(`(?i)(\S+)\s+AS\s+(\w+)\b`)
)

// schemaColumns are the column names of each rtt table, from the
// migrations.
var schemaColumns = func() map[string]map[string]bool {
	tables := map[string]map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(root, "schemas", "clickhouse", "*.sql"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		for _, m := range createTable.FindAllStringSubmatch(string(raw), -1) {
			cols := map[string]bool{}
			for _, c := range columnDef.FindAllStringSubmatch(m[2], -1) {
				cols[c[1]] = true
			}
			tables[m[1]] = cols
		}
	}
	return tables
}()

// checkSQL reports the rule violations of one panel query (before
// expansion).
func checkSQL(sql string) []string {
	var bad []string
	// An expression aliased with a column's name hides the column from the
	// rest of the query, and ClickHouse's analyzers (18.16's, and the new
	// one of 24.x) resolve that differently: "aggregate function found
	// inside another aggregate function" or a silently different result.
	for _, m := range alias.FindAllStringSubmatch(sql, -1) {
		for _, t := range tableRef.FindAllStringSubmatch(sql, -1) {
			if schemaColumns[t[2]][m[2]] && m[1] != m[2] {
				bad = append(bad, "aliases an expression as "+m[2]+", a column of "+t[2]+": choose another name")
				break
			}
		}
	}
	if m := forbidden.FindString(sql); m != "" {
		bad = append(bad, "uses "+m+", which ClickHouse 18.16 lacks")
	}
	if m := queryParam.FindStringSubmatch(sql); m != nil {
		bad = append(bad, "uses a server-side query parameter "+m[1])
	}
	for _, m := range macroName.FindAllStringSubmatchIndex(sql, -1) {
		name := sql[m[2]:m[3]]
		if !slices.Contains(supportedMacros, name) {
			bad = append(bad, "uses $__"+name+"; only "+strings.Join(supportedMacros, ", ")+" expand to SQL 18.16 understands")
			continue
		}
		// An argument-less macro must close its parenthesis before opening
		// another, or the plugin takes what follows as its arguments.
		if name != "timeFilter" {
			rest := sql[m[1]:]
			if i := strings.IndexAny(rest, "()"); i >= 0 && rest[i] == '(' {
				bad = append(bad, "$__"+name+" is followed by \"(\" before \")\": write it in parentheses, ($__"+name+")")
			}
		} else if !strings.HasPrefix(sql[m[1]:], "(") {
			bad = append(bad, "$__timeFilter without its column")
		}
	}
	for _, m := range tableRef.FindAllStringSubmatch(sql, -1) {
		name := m[2]
		if m[1] != "" || strings.HasPrefix(name, "system.") {
			continue
		}
		if strings.Contains(name, ".") {
			bad = append(bad, "names the database in "+name+": the datasource's defaultDatabase (rtt) is the one to use")
			continue
		}
		if !slices.Contains(rttTables, name) {
			bad = append(bad, "reads "+name+", which is not a table of schemas/clickhouse")
			continue
		}
		if m[3] == "" {
			bad = append(bad, "reads "+name+" without FINAL: a batch inserted twice would count twice")
		}
	}
	return bad
}

func TestCheckSQL(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT count() FROM beacons FINAL WHERE $__timeFilter(ts)":                         "",
		"SELECT count() FROM beacons WHERE $__timeFilter(ts)":                               "without FINAL",
		"SELECT count() FROM rtt.beacons FINAL":                                             "names the database",
		"SELECT $__timeInterval(ts) AS time FROM beacons FINAL":                             "$__timeInterval",
		"SELECT toDateTime64(ts, 3) FROM beacons FINAL":                                     "DateTime64",
		"SELECT x FROM beacons FINAL WHERE site = {site:String}":                            "query parameter",
		"SELECT $__interval_s AS s, count() FROM beacons FINAL":                             "in parentheses",
		"SELECT ($__interval_s) AS s, count() FROM beacons FINAL":                           "",
		"SELECT 1 FROM (SELECT site FROM alignments FINAL) JOIN dead_letters":               "dead_letters without FINAL",
		"SELECT argMax(nodes, ts) AS nodes FROM topology_snapshots FINAL":                   "a column of topology_snapshots",
		"SELECT nodes AS nodes, ts AS time FROM topology_snapshots FINAL":                   "",
		"SELECT 1 FROM other FINAL":                                                         "not a table",
		"SELECT c FROM (SELECT groupArray(x) AS a FROM alignments FINAL) ARRAY JOIN a AS c": "",
	} {
		got := strings.Join(checkSQL(sql), "; ")
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("checkSQL(%q) = %q, want %q", sql, got, want)
		}
	}
}

// TestDashboards checks every dashboard without a server: structure,
// datasources, query formats and the SQL rules.
func TestDashboards(t *testing.T) {
	uids := map[string]string{}
	titles := map[string]bool{}
	for _, d := range loadDashboards(t) {
		t.Run(d.file, func(t *testing.T) {
			if d.UID == "" || d.Title == "" || d.Description == "" || d.SchemaVersion == 0 {
				t.Errorf("uid %q, title %q, description %q, schemaVersion %d: all are needed", d.UID, d.Title, d.Description, d.SchemaVersion)
			}
			if len(d.UID) > 40 {
				t.Errorf("uid %q is longer than Grafana's 40 characters", d.UID)
			}
			if other, ok := uids[d.UID]; ok {
				t.Errorf("uid %q also used by %s", d.UID, other)
			}
			uids[d.UID] = d.file
			if titles[d.Title] {
				t.Errorf("title %q used twice", d.Title)
			}
			titles[d.Title] = true

			vars := map[string]bool{}
			for _, v := range d.Templating.List {
				vars[v.Name] = true
				if v.Type == "query" {
					if v.Datasource == nil || v.Datasource.UID != clickhouseUID {
						t.Errorf("variable %s: datasource %v, want uid %s", v.Name, v.Datasource, clickhouseUID)
					}
					for _, bad := range checkSQL(v.sql()) {
						t.Errorf("variable %s: %s", v.Name, bad)
					}
					// TestPanelQueries runs the panels with "All" selected.
					if !v.Multi || !v.IncludeAll {
						t.Errorf("variable %s: want multi-value with All", v.Name)
					}
				}
			}

			ids := map[int]bool{}
			panels := d.allPanels()
			if len(panels) == 0 {
				t.Fatal("no panels")
			}
			for _, p := range panels {
				if ids[p.ID] || p.ID == 0 {
					t.Errorf("panel %q: id %d missing or used twice", p.Title, p.ID)
				}
				ids[p.ID] = true
				if p.Title == "" || p.Description == "" || p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
					t.Errorf("panel %d %q: needs a title, a description (what it answers) and a gridPos", p.ID, p.Title)
				}
				if p.Datasource == nil || (p.Datasource.UID != clickhouseUID && p.Datasource.UID != prometheusUID) {
					t.Errorf("panel %q: datasource %v, want uid %s or %s", p.Title, p.Datasource, clickhouseUID, prometheusUID)
					continue
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				for _, tg := range p.Targets {
					if tg.Datasource == nil || *tg.Datasource != *p.Datasource {
						t.Errorf("panel %q target %s: datasource %v, want the panel's %v", p.Title, tg.RefID, tg.Datasource, *p.Datasource)
					}
					switch p.Datasource.UID {
					case clickhouseUID:
						checkClickHouseTarget(t, p, tg, vars)
					case prometheusUID:
						if p.Datasource.Type != "prometheus" || tg.Expr == "" {
							t.Errorf("panel %q target %s: a Prometheus query needs type prometheus and an expr", p.Title, tg.RefID)
						}
					}
				}
			}
		})
	}
	if len(uids) < 6 {
		t.Errorf("%d dashboards, want heartbeats, drift, corridors, coherence, topology and pipeline at least", len(uids))
	}
}

func checkClickHouseTarget(t *testing.T, p panel, tg target, vars map[string]bool) {
	t.Helper()
	if p.Datasource.Type != clickhouseDS {
		t.Errorf("panel %q: datasource type %q, want %s", p.Title, p.Datasource.Type, clickhouseDS)
	}
	if tg.EditorType != "sql" || strings.TrimSpace(tg.RawSQL) == "" || tg.Format == nil {
		t.Errorf("panel %q target %s: want editorType sql, a rawSql and a format", p.Title, tg.RefID)
		return
	}
	wantFormat, wantType := formatTable, "table"
	if p.Type == "timeseries" {
		wantFormat, wantType = formatTimeSeries, "timeseries"
	}
	if *tg.Format != wantFormat || tg.QueryType != wantType {
		t.Errorf("panel %q (%s) target %s: format %d, queryType %q; want %d, %q", p.Title, p.Type, tg.RefID, *tg.Format, tg.QueryType, wantFormat, wantType)
	}
	for _, bad := range checkSQL(tg.RawSQL) {
		t.Errorf("panel %q target %s: %s", p.Title, tg.RefID, bad)
	}
	for _, m := range templateVar.FindAllStringSubmatch(tg.RawSQL, -1) {
		name := m[1] + m[3]
		if !strings.HasPrefix(name, "__") && !vars[name] {
			t.Errorf("panel %q target %s: variable %s is not defined by the dashboard", p.Title, tg.RefID, m[0])
		}
	}
}

// provisioning holds the parsed provisioning files.
type provisioning struct {
	Datasources []struct {
		Name     string         `yaml:"name"`
		Type     string         `yaml:"type"`
		UID      string         `yaml:"uid"`
		URL      string         `yaml:"url"`
		Access   string         `yaml:"access"`
		JSONData map[string]any `yaml:"jsonData"`
	} `yaml:"datasources"`
	Providers []struct {
		Name    string         `yaml:"name"`
		Type    string         `yaml:"type"`
		Options map[string]any `yaml:"options"`
	} `yaml:"providers"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestProvisioning checks the datasource and dashboard provider files.
func TestProvisioning(t *testing.T) {
	var ds provisioning
	readYAML(t, "grafana/provisioning/datasources/clickhouse.yaml", &ds)
	found := map[string]bool{}
	for _, d := range ds.Datasources {
		found[d.UID] = true
		switch d.UID {
		case clickhouseUID:
			j := d.JSONData
			if d.Type != clickhouseDS || j["host"] != "clickhouse" || j["port"] != 9000 || j["protocol"] != "native" || j["defaultDatabase"] != "rtt" {
				t.Errorf("ClickHouse datasource: type %q, jsonData %v; want %s, host clickhouse, port 9000, protocol native, defaultDatabase rtt", d.Type, j, clickhouseDS)
			}
		case prometheusUID:
			if d.Type != "prometheus" || d.URL == "" || d.Access != "proxy" {
				t.Errorf("Prometheus datasource: type %q, url %q, access %q", d.Type, d.URL, d.Access)
			}
		default:
			t.Errorf("unexpected datasource uid %q", d.UID)
		}
	}
	if !found[clickhouseUID] || !found[prometheusUID] {
		t.Errorf("datasources %v, want %s and %s", found, clickhouseUID, prometheusUID)
	}

	var dp provisioning
	readYAML(t, "grafana/provisioning/dashboards/rtt.yaml", &dp)
	if len(dp.Providers) != 1 || dp.Providers[0].Type != "file" {
		t.Fatalf("dashboard providers %+v, want one of type file", dp.Providers)
	}
	if p, _ := dp.Providers[0].Options["path"].(string); !strings.HasPrefix(p, "/") {
		t.Errorf("dashboard provider path %q, want an absolute path inside the container", p)
	}
}

func TestSchemaColumns(t *testing.T) {
	for _, table := range rttTables {
		if len(schemaColumns[table]) < 5 {
			t.Errorf("table %s: columns %v read from schemas/clickhouse", table, schemaColumns[table])
		}
	}
	if !schemaColumns["beacons"]["received_at"] || !schemaColumns["alignments"]["running_score"] || schemaColumns["beacons"]["ENGINE"] {
		t.Errorf("beacons %v, alignments %v", schemaColumns["beacons"], schemaColumns["alignments"])
	}
}
