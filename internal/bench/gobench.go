package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// goBenchPackages hold the Go benchmarks of the hot functions and of the
// state kept per site.
var goBenchPackages = []struct{ pkg, short string }{
	{"./pkg/beacon", "beacon"},
	{"./pkg/drift", "drift"},
	{"./pkg/corridor", "corridor"},
	{"./services/corridor/internal/corridor", "corridor-service"},
	{"./services/sink/internal/sink", "sink"},
}

// goBenchPattern picks the benchmarks the report shows: decode and
// validate, event id derivation, the drift step, the corridor step, row
// encoding, and the state per site at 100,000 sites.
const goBenchPattern = `^Benchmark(Decode|DeriveID|Split|Step|Process|Rows|TrackerMemory100k|ScoresMemory100k)$`

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// phaseGoBench runs the Go benchmarks Runs times (-count) and adds the
// median of each of their figures, and the drift plus corridor state per
// site.
func (e *env) phaseGoBench(ctx context.Context, rep *Report) error {
	values := map[string][]float64{}
	var order []string
	for _, p := range goBenchPackages {
		e.logf("go test -bench %s", p.pkg)
		cmd := exec.CommandContext(ctx, "go", "test", "-run=^$", "-bench="+goBenchPattern, "-benchmem",
			fmt.Sprintf("-count=%d", e.cfg.Runs), p.pkg)
		cmd.Dir = e.root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go test -bench %s: %w\n%s", p.pkg, err, out.String())
		}
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			m := benchLine.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			name := p.short + "." + strings.TrimPrefix(m[1], "Benchmark")
			fields := strings.Fields(m[3])
			for i := 0; i+1 < len(fields); i += 2 {
				v, err := strconv.ParseFloat(fields[i], 64)
				if err != nil {
					continue
				}
				unit := fields[i+1]
				switch unit {
				case "MB/s", "B/op":
					continue // the table keeps time, allocations and custom figures
				}
				key := name + " " + unit
				if _, ok := values[key]; !ok {
					order = append(order, key)
				}
				values[key] = append(values[key], v)
			}
		}
	}
	for _, key := range order {
		name, unit, _ := strings.Cut(key, " ")
		rep.add(Figure{Name: "go." + name + figureSuffix(unit), Value: median(values[key]), Unit: unit, runs: values[key]})
	}
	drift := median(values["drift.TrackerMemory100k bytes/key"])
	corridor := median(values["corridor.ScoresMemory100k bytes/site"])
	if len(values["drift.TrackerMemory100k bytes/key"]) > 0 && len(values["corridor.ScoresMemory100k bytes/site"]) > 0 {
		rep.add(Figure{Name: "state_drift_corridor_bytes_per_site", Value: drift + corridor, Unit: "bytes/site",
			note: fmt.Sprintf("drift %.0f + corridor %.0f, at 100,000 sites", drift, corridor)})
	}
	if len(order) == 0 {
		return fmt.Errorf("no benchmark matched %s", goBenchPattern)
	}
	return nil
}

// figureSuffix keeps two figures of one benchmark apart in the JSON.
func figureSuffix(unit string) string {
	if slices.Contains([]string{"ns/op"}, unit) {
		return ""
	}
	return "." + strings.NewReplacer("/", "_per_", "-", "_").Replace(unit)
}
