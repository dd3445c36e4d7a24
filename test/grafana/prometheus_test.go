package grafana

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The Prometheus panels cannot run here (no Prometheus scrapes the
// services in the tests); this file checks that they only ask for series
// the code exports, with labels the code sets.

// metricDef is a metric the Go code registers.
type metricDef struct {
	kind   string   // counter, gauge, histogram, summary or const (a collector's Desc)
	labels []string // nil when the code's labels could not be read statically
	file   string
}

// codeMetrics reads every non-test Go file of the module and returns the
// metrics it defines: client_golang Opts literals (with the label names of
// their ...Vec constructor and their ConstLabels) and NewDesc calls.
func codeMetrics(t *testing.T) map[string]metricDef {
	t.Helper()
	defs := map[string]metricDef{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".data", "node_modules", "sdk", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		lists := stringLists(f)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			fn := selectorName(call.Fun, "prometheus")
			switch {
			case fn == "NewDesc" && len(call.Args) >= 3:
				if name, ok := stringLit(call.Args[0]); ok {
					labels, _ := listOf(call.Args[2], lists)
					defs[name] = metricDef{kind: "const", labels: labels, file: rel}
				}
			case strings.HasPrefix(fn, "New") && len(call.Args) >= 1:
				lit, ok := call.Args[0].(*ast.CompositeLit)
				if !ok {
					return true
				}
				kind := strings.TrimSuffix(strings.ToLower(selectorName(lit.Type, "prometheus")), "opts")
				if !slices.Contains([]string{"counter", "gauge", "histogram", "summary"}, kind) {
					return true
				}
				def := metricDef{kind: kind, labels: []string{}, file: rel}
				var name string
				for _, el := range lit.Elts {
					kv, ok := el.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					switch key, _ := kv.Key.(*ast.Ident); key.Name {
					case "Name":
						name, _ = stringLit(kv.Value)
					case "ConstLabels":
						if cl, ok := kv.Value.(*ast.CompositeLit); ok {
							for _, e := range cl.Elts {
								if kv, ok := e.(*ast.KeyValueExpr); ok {
									if k, ok := stringLit(kv.Key); ok {
										def.labels = append(def.labels, k)
									}
								}
							}
						}
					}
				}
				if strings.HasSuffix(fn, "Vec") && len(call.Args) >= 2 {
					labels, ok := listOf(call.Args[1], lists)
					if !ok {
						def.labels = nil
					} else {
						def.labels = append(def.labels, labels...)
					}
				}
				if name != "" {
					defs[name] = def
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return defs
}

// selectorName returns Sel of pkg.Sel, else "".
func selectorName(e ast.Expr, pkg string) string {
	if s, ok := e.(*ast.SelectorExpr); ok {
		if x, ok := s.X.(*ast.Ident); ok && x.Name == pkg {
			return s.Sel.Name
		}
	}
	return ""
}

func stringLit(e ast.Expr) (string, bool) {
	if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
		s, err := strconv.Unquote(b.Value)
		return s, err == nil
	}
	return "", false
}

// stringLists maps the variables a file assigns a []string literal to
// (labels := []string{"stream", "consumer"}) to their values.
func stringLists(f *ast.File) map[string][]string {
	out := map[string][]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == 1 && len(as.Rhs) == 1 {
			if id, ok := as.Lhs[0].(*ast.Ident); ok {
				if l, ok := listOf(as.Rhs[0], nil); ok {
					out[id.Name] = l
				}
			}
		}
		return true
	})
	return out
}

// listOf reads a []string literal, or a variable stringLists found.
func listOf(e ast.Expr, vars map[string][]string) ([]string, bool) {
	switch v := e.(type) {
	case *ast.Ident:
		if v.Name == "nil" {
			return []string{}, true
		}
		l, ok := vars[v.Name]
		return l, ok
	case *ast.CompositeLit:
		var out []string
		for _, el := range v.Elts {
			s, ok := stringLit(el)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

var (
	metricRef = regexp.MustCompile(`\brtt_[a-z0-9_]+\b`)
	byClause  = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	matcher   = regexp.MustCompile(`\{([^}]*)\}`)
	legendRef = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)
)

// checkPromQL reports the series and labels of one expression (and its
// legend) that the code does not export.
func checkPromQL(expr, legend string, defs map[string]metricDef) []string {
	var bad []string
	labels := map[string]bool{"job": true, "instance": true}
	known := true
	refs := metricRef.FindAllString(expr, -1)
	if len(refs) == 0 {
		bad = append(bad, "names no rtt_ metric")
	}
	for _, ref := range refs {
		def, ok := defs[ref]
		if ok && (def.kind == "histogram" || def.kind == "summary") {
			bad = append(bad, ref+" is a "+def.kind+": query its _bucket, _sum or _count series")
			continue
		}
		if !ok {
			base, suffix := ref, ""
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				if strings.HasSuffix(ref, s) {
					base, suffix = strings.TrimSuffix(ref, s), s
				}
			}
			def, ok = defs[base]
			switch {
			case !ok || suffix == "":
				bad = append(bad, ref+" is not a metric the Go code defines")
				known = false
				continue
			case def.kind != "histogram" && !(def.kind == "summary" && suffix != "_bucket"):
				bad = append(bad, ref+": "+base+" is a "+def.kind+", it has no "+suffix+" series")
				continue
			}
			if suffix == "_bucket" {
				labels["le"] = true
			}
		}
		if def.labels == nil {
			known = false
		}
		for _, l := range def.labels {
			labels[l] = true
		}
	}
	if !known {
		return bad
	}
	var used []string
	for _, m := range byClause.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				used = append(used, l)
			}
		}
	}
	for _, m := range matcher.FindAllStringSubmatch(expr, -1) {
		for _, kv := range strings.Split(m[1], ",") {
			if i := strings.IndexAny(kv, "=!~"); i > 0 {
				used = append(used, strings.TrimSpace(kv[:i]))
			}
		}
	}
	for _, m := range legendRef.FindAllStringSubmatch(legend, -1) {
		used = append(used, m[1])
	}
	for _, l := range used {
		if !labels[l] {
			bad = append(bad, "label "+l+" is not set on "+strings.Join(refs, ", "))
		}
	}
	return bad
}

func TestCheckPromQL(t *testing.T) {
	defs := map[string]metricDef{
		"rtt_a_total":   {kind: "counter", labels: []string{"cluster"}},
		"rtt_b_seconds": {kind: "histogram", labels: []string{"table"}},
		"rtt_c":         {kind: "const", labels: []string{"stream", "consumer"}},
	}
	for expr, want := range map[string]string{
		`sum by (cluster) (rate(rtt_a_total[5m]))`:                                     "",
		`histogram_quantile(0.9, sum by (le, table) (rate(rtt_b_seconds_bucket[5m])))`: "",
		`rate(rtt_b_seconds[5m])`:                                                      "query its _bucket",
		`rate(rtt_a_total_bucket[5m])`:                                                 "no _bucket series",
		`rate(rtt_missing_total[5m])`:                                                  "not a metric",
		`sum by (reason) (rate(rtt_a_total[5m]))`:                                      "label reason",
		`rtt_c{consumer="sink"}`:                                                       "",
		`rtt_c{nope="x"}`:                                                              "label nope",
		`sum by (le) (rate(rtt_b_seconds_count[5m]))`:                                  "label le",
		`up`: "names no rtt_ metric",
	} {
		got := strings.Join(checkPromQL(expr, "", defs), "; ")
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("checkPromQL(%q) = %q, want %q", expr, got, want)
		}
	}
	if got := checkPromQL(`rtt_c`, "{{stream}} {{table}}", defs); len(got) != 1 || !strings.Contains(got[0], "label table") {
		t.Errorf("legend check: %v", got)
	}
}

// TestPrometheusPanels checks that every Prometheus query of the dashboards
// asks only for metrics and labels the services export. The queries
// themselves are not run: the tests have no Prometheus.
func TestPrometheusPanels(t *testing.T) {
	defs := codeMetrics(t)
	for _, name := range []string{"rtt_beacons_total", "rtt_consumer_pending", "rtt_sink_insert_seconds"} {
		if _, ok := defs[name]; !ok {
			t.Fatalf("reading the Go sources found no %s among %d metrics: the parser misses definitions", name, len(defs))
		}
	}
	queries := 0
	for _, d := range loadDashboards(t) {
		for _, p := range d.allPanels() {
			for _, tg := range p.Targets {
				if tg.Datasource == nil || tg.Datasource.UID != prometheusUID {
					continue
				}
				queries++
				for _, bad := range checkPromQL(tg.Expr, tg.LegendFormat, defs) {
					t.Errorf("%s panel %q target %s: %s\n%s", d.file, p.Title, tg.RefID, bad, tg.Expr)
				}
			}
		}
	}
	if queries == 0 {
		t.Error("no Prometheus query in the dashboards: rejects, consumer lag and insert latency need one")
	}
	t.Logf("%d Prometheus queries checked against %d metrics defined in the Go code", queries, len(defs))
}
