package stack

import (
	"flag"
	"strings"
	"testing"
)

func defaultConfig(t *testing.T) Config {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	c.Register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // start of the error; "" for none
	}{
		{"defaults", func(*Config) {}, ""},
		{"wildcard host", func(c *Config) { c.Addr = ":8090" }, ""},
		{"no port", func(c *Config) { c.DriftAddr = "127.0.0.1" }, "drift-addr: "},
		{"port zero", func(c *Config) { c.SinkAddr = "127.0.0.1:0" }, "sink-addr: "},
		{"same port twice", func(c *Config) { c.CorridorAddr = "127.0.0.1:8081" }, "corridor-addr: port 8081 is also drift-addr's"},
		{"api on the ClickHouse port", func(c *Config) { c.Addr = "127.0.0.1:9000" }, "addr: port 9000 is also clickhouse-port's"},
		{"bad NATS port", func(c *Config) { c.NATSPort = -1 }, "nats-port: "},
		{"bad ClickHouse port", func(c *Config) { c.ClickHouse.TCPPort = 70000 }, "clickhouse-port: "},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, "log-format: "},
		{"no ready timeout", func(c *Config) { c.ReadyTimeout = 0 }, "ready-timeout: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig(t)
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want %q...", err, tt.want)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	c := defaultConfig(t)
	c.Addr = "0.0.0.0:8090"
	e := c.Endpoints(42)
	for _, c := range []struct{ got, want string }{
		{e.API, "http://127.0.0.1:8090/api/rtt"},
		{e.NATS, "nats://127.0.0.1:4222"},
		{e.ClickHouse, "127.0.0.1:9000"},
		{e.ClickHouseHTTP, "http://127.0.0.1:8123"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	var names []string
	for _, s := range e.Services {
		names = append(names, s.Name+" "+s.Ready+" "+s.Metrics)
	}
	want := []string{
		"clickhouse http://127.0.0.1:8123/ping ",
		"ingest http://127.0.0.1:8090/readyz http://127.0.0.1:8090/metrics",
		"drift http://127.0.0.1:8081/readyz http://127.0.0.1:8081/metrics",
		"corridor http://127.0.0.1:8082/readyz http://127.0.0.1:8082/metrics",
		"sink http://127.0.0.1:8083/readyz http://127.0.0.1:8083/metrics",
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("services:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
}

func TestPlanEnvironment(t *testing.T) {
	c := defaultConfig(t)
	c.ClickHouse.DataDir = "/data"
	c.BinDir = "/bin-dir"
	environ := []string{"PATH=/usr/bin", "RTT_TOKEN=secret", "RTT_NATS_URL=nats://elsewhere:4222", "RTT_LOG_FORMAT=json", "RTT_ADDR=127.0.0.1:1"}
	steps := c.plan("/usr/local/bin/rtt", environ, true)

	var order [][]string
	env := map[string]map[string]string{}
	for _, st := range steps {
		var names []string
		for _, sp := range st {
			names = append(names, sp.Name)
			m := map[string]string{}
			for _, kv := range sp.Env {
				k, v, _ := strings.Cut(kv, "=")
				if _, dup := m[k]; dup {
					t.Errorf("%s: %s set twice", sp.Name, k)
				}
				m[k] = v
			}
			env[sp.Name] = m
		}
		order = append(order, names)
	}
	if got := strings.Join([]string{strings.Join(order[0], ","), strings.Join(order[1], ",")}, " then "); got != "clickhouse,ingest then drift,corridor,sink" {
		t.Errorf("start order %s", got)
	}

	tests := []struct {
		service, key, want string // want "-" means unset
	}{
		{"ingest", "RTT_ADDR", "127.0.0.1:8080"},
		{"ingest", "RTT_DATA_DIR", "/data"},
		{"ingest", "RTT_NATS_PORT", "4222"},
		{"ingest", "RTT_NATS_URL", "-"}, // embedded NATS
		{"ingest", "RTT_TOKEN", "secret"},
		{"drift", "RTT_DRIFT_ADDR", "127.0.0.1:8081"},
		{"drift", "RTT_NATS_URL", "nats://127.0.0.1:4222"},
		{"corridor", "RTT_CORRIDOR_ADDR", "127.0.0.1:8082"},
		{"corridor", "RTT_NATS_URL", "nats://127.0.0.1:4222"},
		{"sink", "RTT_SINK_ADDR", "127.0.0.1:8083"},
		{"sink", "RTT_NATS_URL", "nats://127.0.0.1:4222"},
		{"sink", "RTT_CLICKHOUSE_ADDR", "127.0.0.1:9000"},
		{"sink", "RTT_CLICKHOUSE_DATABASE", "rtt"},
		{"sink", "RTT_LOG_FORMAT", "console"},
		{"sink", "NO_COLOR", "1"},
		{"sink", "PATH", "/usr/bin"},
	}
	for _, tt := range tests {
		got, ok := env[tt.service][tt.key]
		if !ok {
			got = "-"
		}
		if got != tt.want {
			t.Errorf("%s: %s=%q, want %q", tt.service, tt.key, got, tt.want)
		}
	}

	ch := steps[0][0]
	if ch.Path != "/usr/local/bin/rtt" || strings.Join(ch.Args, " ") != "clickhouse -install=false -data-dir /data -clickhouse-port 9000 -clickhouse-http-port 8123" {
		t.Errorf("clickhouse child: %s %q", ch.Path, ch.Args)
	}
	if sink := steps[1][2]; sink.Path != "/bin-dir/sink" || sink.ReadyURL != "http://127.0.0.1:8083/readyz" {
		t.Errorf("sink child: %s %s", sink.Path, sink.ReadyURL)
	}
}
