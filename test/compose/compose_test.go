// Package compose checks compose.yaml and the Dockerfile without Docker:
// compose.yaml is loaded with the Compose specification's own Go loader
// (compose-spec/compose-go), as docker compose loads it, and the Dockerfile
// is read as text, to check that the image holds every binary the services
// run, built the way the services expect.
package compose

import (
	"context"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// root is the module root, relative to this package.
const root = "../.."

// rttServices are rtt's own services, built from the Dockerfile.
var rttServices = []string{"ingest", "drift", "corridor", "sink"}

// loadProject loads compose.yaml as docker compose does, with an empty
// environment so that the file's defaults apply.
func loadProject(t *testing.T) *types.Project {
	t.Helper()
	dir, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	details := types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "compose.yaml")}},
		Environment: types.Mapping{},
	}
	p, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("rtt", true)
	})
	if err != nil {
		t.Fatalf("loading compose.yaml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("compose.yaml has no service %s", name)
	}
	return s
}

func env(s types.ServiceConfig, key string) string {
	if v, ok := s.Environment[key]; ok && v != nil {
		return *v
	}
	return ""
}

// published returns the container ports the service publishes on the host
// (at the same port number).
func published(s types.ServiceConfig) []string {
	var out []string
	for _, p := range s.Ports {
		if target := strconv.FormatUint(uint64(p.Target), 10); p.Published == target {
			out = append(out, target)
		}
	}
	return out
}

// healthURL returns the URL a wget health check fetches.
func healthURL(t *testing.T, name string, s types.ServiceConfig) *url.URL {
	t.Helper()
	hc := s.HealthCheck
	if hc == nil || hc.Disable || len(hc.Test) < 2 {
		t.Fatalf("%s: no health check", name)
	}
	if hc.Test[0] != "CMD" || hc.Test[1] != "wget" {
		t.Fatalf("%s: health check %q, want [CMD wget ... URL]", name, hc.Test)
	}
	u, err := url.Parse(hc.Test[len(hc.Test)-1])
	if err != nil || u.Host == "" {
		t.Fatalf("%s: health check URL %q: %v", name, hc.Test[len(hc.Test)-1], err)
	}
	return u
}

func TestServices(t *testing.T) {
	p := loadProject(t)
	want := append([]string{"nats", "clickhouse", "grafana"}, rttServices...)
	for _, name := range want {
		service(t, p, name)
	}
	if len(p.Services) != len(want) {
		t.Errorf("services %v, want %v", slices.Sorted(maps.Keys(p.Services)), want)
	}

	// Images of the infrastructure; the ClickHouse users run is 23.8 or newer.
	for name, prefix := range map[string]string{
		"nats": "nats:2.", "clickhouse": "clickhouse/clickhouse-server:", "grafana": "grafana/grafana:",
	} {
		s := service(t, p, name)
		if !strings.HasPrefix(s.Image, prefix) || s.Build != nil {
			t.Errorf("%s: image %q, build %v; want an image %s...", name, s.Image, s.Build, prefix)
		}
	}
	if v := strings.TrimPrefix(service(t, p, "clickhouse").Image, "clickhouse/clickhouse-server:"); !atLeast(v, 23, 8) {
		t.Errorf("clickhouse image version %q, want 23.8 or newer (docs: every statement runs on 18.16 and 23.8+)", v)
	}

	for _, name := range rttServices {
		s := service(t, p, name)
		if s.Build == nil || s.Image != "" && !strings.HasPrefix(s.Image, "rtt") {
			t.Errorf("%s: build %v, image %q; want built from the repository", name, s.Build, s.Image)
			continue
		}
		if s.Build.Context != p.WorkingDir || (s.Build.Dockerfile != "" && s.Build.Dockerfile != "Dockerfile") {
			t.Errorf("%s: build context %q, Dockerfile %q; want the repository root and its Dockerfile", name, s.Build.Context, s.Build.Dockerfile)
		}
		if got := env(s, "RTT_NATS_URL"); got != "nats://nats:4222" {
			t.Errorf("%s: RTT_NATS_URL %q, want nats://nats:4222", name, got)
		}
		if len(s.Command) != 1 || s.Command[0] != name {
			t.Errorf("%s: command %q, want [%s]", name, s.Command, name)
		}
		// The service listens on all interfaces at the port its health
		// check asks (inside the container, 127.0.0.1 is the service).
		addrVar := map[string]string{"ingest": "RTT_ADDR", "drift": "RTT_DRIFT_ADDR", "corridor": "RTT_CORRIDOR_ADDR", "sink": "RTT_SINK_ADDR"}[name]
		addr := env(s, addrVar)
		u := healthURL(t, name, s)
		if addr != "0.0.0.0:"+u.Port() || u.Hostname() != "127.0.0.1" || u.Path != "/readyz" {
			t.Errorf("%s: %s=%q, health check %s; want 0.0.0.0:<port> and http://127.0.0.1:<port>/readyz", name, addrVar, addr, u)
		}
	}
	if got := env(service(t, p, "sink"), "RTT_CLICKHOUSE_ADDR"); got != "clickhouse:9000" {
		t.Errorf("sink: RTT_CLICKHOUSE_ADDR %q, want clickhouse:9000", got)
	}
	if !slices.Contains(strings.Split(env(service(t, p, "grafana"), "GF_INSTALL_PLUGINS"), ","), "grafana-clickhouse-datasource") {
		t.Errorf("grafana: GF_INSTALL_PLUGINS %q, want grafana-clickhouse-datasource", env(service(t, p, "grafana"), "GF_INSTALL_PLUGINS"))
	}
	if got := env(service(t, p, "grafana"), "RTT_PROMETHEUS_URL"); !strings.HasPrefix(got, "http") {
		t.Errorf("grafana: RTT_PROMETHEUS_URL %q (the Prometheus datasource's url) has no default", got)
	}
}

// atLeast reports whether an image tag such as 23.8 or 24.3-alpine is
// major.minor or newer.
func atLeast(tag string, major, minor int) bool {
	m := regexp.MustCompile(`^(\d+)\.(\d+)`).FindStringSubmatch(tag)
	if m == nil {
		return tag == "latest"
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	return a > major || a == major && b >= minor
}

func TestPorts(t *testing.T) {
	p := loadProject(t)
	for name, want := range map[string][]string{
		"nats": {"4222"}, "clickhouse": {"9000", "8123"}, "grafana": {"3000"}, "ingest": {"8080"},
	} {
		got := published(service(t, p, name))
		for _, port := range want {
			if !slices.Contains(got, port) {
				t.Errorf("%s publishes %v, want %s on the same host port", name, got, port)
			}
		}
	}
	// One service per host port.
	seen := map[string]string{}
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if other, ok := seen[port.Published]; ok {
				t.Errorf("host port %s published by %s and %s", port.Published, other, name)
			}
			seen[port.Published] = name
		}
	}
}

func TestHealthChecksAndDependencies(t *testing.T) {
	p := loadProject(t)
	for name, s := range p.Services {
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s has no health check", name)
			continue
		}
		if s.HealthCheck.Interval == nil || s.HealthCheck.Retries == nil {
			t.Errorf("%s: health check without interval or retries", name)
		}
		for dep, d := range s.DependsOn {
			if d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s depends on %s with condition %q, want %s", name, dep, d.Condition, types.ServiceConditionHealthy)
			}
		}
	}
	for name, want := range map[string][]string{
		"nats": nil, "clickhouse": nil, "grafana": {"clickhouse"},
		"ingest": {"nats"}, "drift": {"ingest"}, "corridor": {"ingest"}, "sink": {"clickhouse", "ingest"},
	} {
		got := slices.Sorted(maps.Keys(service(t, p, name).DependsOn))
		if !slices.Equal(got, want) {
			t.Errorf("%s depends on %v, want %v", name, got, want)
		}
	}
	// The infrastructure answers its health check where the check looks.
	for name, port := range map[string]string{"nats": "8222", "clickhouse": "8123", "grafana": "3000"} {
		if u := healthURL(t, name, service(t, p, name)); u.Port() != port {
			t.Errorf("%s health check %s, want port %s", name, u, port)
		}
	}
	if n := service(t, p, "nats"); !slices.Contains(n.Command, "-js") || !slices.Contains(n.Command, "8222") {
		t.Errorf("nats command %q: JetStream (-js) and the monitoring port 8222 (-m) are needed", n.Command)
	}
}

// mount finds the service's volume mounted at target.
func mount(s types.ServiceConfig, target string) *types.ServiceVolumeConfig {
	for i := range s.Volumes {
		if s.Volumes[i].Target == target {
			return &s.Volumes[i]
		}
	}
	return nil
}

func TestVolumes(t *testing.T) {
	p := loadProject(t)
	for _, v := range []struct{ svc, volume, target string }{
		{"nats", "nats-data", "/data"},
		{"clickhouse", "clickhouse-data", "/var/lib/clickhouse"},
		{"grafana", "grafana-data", "/var/lib/grafana"},
	} {
		m := mount(service(t, p, v.svc), v.target)
		if m == nil || m.Type != types.VolumeTypeVolume || m.Source != v.volume {
			t.Errorf("%s: want named volume %s at %s, got %+v", v.svc, v.volume, v.target, m)
		}
		if _, ok := p.Volumes[v.volume]; !ok {
			t.Errorf("volume %s is not declared", v.volume)
		}
	}
	if n := service(t, p, "nats"); !strings.Contains(strings.Join(n.Command, " "), "-sd /data") {
		t.Errorf("nats command %q does not store JetStream in its volume /data", n.Command)
	}

	// Grafana reads the repository's provisioning and dashboards, read-only,
	// where the dashboard provider looks for them.
	var provider struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	raw, err := os.ReadFile(filepath.Join(root, "grafana", "provisioning", "dashboards", "rtt.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &provider); err != nil || len(provider.Providers) != 1 {
		t.Fatalf("grafana/provisioning/dashboards/rtt.yaml: %v %+v", err, provider)
	}
	g := service(t, p, "grafana")
	for _, b := range []struct{ source, target string }{
		{"grafana/provisioning", "/etc/grafana/provisioning"},
		{"grafana/dashboards", provider.Providers[0].Options.Path},
	} {
		m := mount(g, b.target)
		if m == nil || m.Type != types.VolumeTypeBind || !m.ReadOnly || m.Source != filepath.Join(p.WorkingDir, b.source) {
			t.Errorf("grafana: want ./%s bound read-only at %s, got %+v", b.source, b.target, m)
			continue
		}
		if fi, err := os.Stat(m.Source); err != nil || !fi.IsDir() {
			t.Errorf("grafana: bind source %s: %v", m.Source, err)
		}
	}
	if home := env(g, "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"); home != "" {
		rel, err := filepath.Rel(provider.Providers[0].Options.Path, home)
		if _, statErr := os.Stat(filepath.Join(root, "grafana", "dashboards", rel)); err != nil || statErr != nil {
			t.Errorf("grafana: home dashboard %s is not one of the mounted dashboards", home)
		}
	}
}

// TestGrafanaDatasourceReachesClickHouse checks that the provisioned
// ClickHouse datasource names the compose service and its native port.
func TestGrafanaDatasourceReachesClickHouse(t *testing.T) {
	p := loadProject(t)
	var ds struct {
		Datasources []struct {
			UID      string         `yaml:"uid"`
			JSONData map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	raw, err := os.ReadFile(filepath.Join(root, "grafana", "provisioning", "datasources", "clickhouse.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &ds); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds.Datasources {
		if d.UID != "rtt-clickhouse" {
			continue
		}
		host, _ := d.JSONData["host"].(string)
		port, _ := d.JSONData["port"].(int)
		if _, ok := p.Services[host]; !ok || port != 9000 || !slices.ContainsFunc(service(t, p, host).Ports, func(pc types.ServicePortConfig) bool { return pc.Target == 9000 }) {
			t.Errorf("datasource host %q port %d: want a compose service exposing the native port 9000", host, port)
		}
		if db := env(service(t, p, "sink"), "RTT_CLICKHOUSE_DATABASE"); db != "" && db != d.JSONData["defaultDatabase"] {
			t.Errorf("sink writes database %q, the datasource reads %v", db, d.JSONData["defaultDatabase"])
		}
		return
	}
	t.Error("no datasource rtt-clickhouse")
}
