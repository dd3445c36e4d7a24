package stack

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/rtt-dev/rtt/cmd/rtt/internal/supervisor"
)

// Services are the service binaries "rtt dev" runs from Config.BinDir.
var Services = []string{"ingest", "drift", "corridor", "sink"}

// step is a group of children that start together; the next step starts
// once all of them are ready.
type step []supervisor.Spec

// plan returns the children of the stack in start order. ClickHouse and
// ingest (with the NATS server everything else needs) start first; drift,
// corridor and sink once both answer. Stopping goes in reverse: sink flushes
// to ClickHouse and drains from NATS before either goes away. self is the
// rtt binary, which runs ClickHouse ("rtt clickhouse") in a process group of
// its own so that a Ctrl-C in the terminal does not stop it before the sink.
// Services get their settings through RTT_* variables added to environ
// (which passes any other RTT_* setting on); noColor sets NO_COLOR for
// console logs that do not go to a terminal.
func (c Config) plan(self string, environ []string, noColor bool) []step {
	e := c.Endpoints(0)
	common := map[string]string{"RTT_LOG_FORMAT": c.LogFormat, "RTT_LOG_LEVEL": c.LogLevel}
	if noColor {
		common["NO_COLOR"] = "1"
	}
	env := func(set map[string]string, unset ...string) []string {
		for k, v := range common {
			set[k] = v
		}
		return withEnv(environ, set, unset...)
	}
	ready := map[string]string{}
	for _, s := range e.Services {
		ready[s.Name] = s.Ready
	}
	bin := func(name string) string { return filepath.Join(c.BinDir, name) }

	clickhouse := supervisor.Spec{
		Name: "clickhouse", Path: self,
		Args: []string{"clickhouse", "-install=false", "-data-dir", c.ClickHouse.DataDir,
			"-clickhouse-port", strconv.Itoa(c.ClickHouse.TCPPort), "-clickhouse-http-port", strconv.Itoa(c.ClickHouse.HTTPPort)},
		Env: env(map[string]string{}), ReadyURL: ready["clickhouse"],
	}
	ingest := supervisor.Spec{
		Name: "ingest", Path: bin("ingest"), ReadyURL: ready["ingest"],
		Env: env(map[string]string{
			"RTT_ADDR": c.Addr, "RTT_DATA_DIR": c.ClickHouse.DataDir, "RTT_NATS_PORT": strconv.Itoa(c.NATSPort),
		}, "RTT_NATS_URL"), // empty: the embedded server
	}
	drift := supervisor.Spec{
		Name: "drift", Path: bin("drift"), ReadyURL: ready["drift"],
		Env: env(map[string]string{"RTT_DRIFT_ADDR": c.DriftAddr, "RTT_NATS_URL": e.NATS}),
	}
	corridor := supervisor.Spec{
		Name: "corridor", Path: bin("corridor"), ReadyURL: ready["corridor"],
		Env: env(map[string]string{"RTT_CORRIDOR_ADDR": c.CorridorAddr, "RTT_NATS_URL": e.NATS}),
	}
	sink := supervisor.Spec{
		Name: "sink", Path: bin("sink"), ReadyURL: ready["sink"],
		Env: env(map[string]string{
			"RTT_SINK_ADDR": c.SinkAddr, "RTT_NATS_URL": e.NATS,
			"RTT_CLICKHOUSE_ADDR": e.ClickHouse, "RTT_CLICKHOUSE_DATABASE": c.Database,
		}),
	}
	return []step{{clickhouse, ingest}, {drift, corridor, sink}}
}

// withEnv returns environ with the variables in set (replacing any earlier
// value) and without those in unset: environ's other variables in their
// order, then those of set sorted by name.
func withEnv(environ []string, set map[string]string, unset ...string) []string {
	out := make([]string, 0, len(environ)+len(set))
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; ok || slices.Contains(unset, k) {
			continue
		}
		out = append(out, kv)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, k+"="+set[k])
	}
	return out
}
