package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Endpoints says where a running stack listens. It is the content of the
// ready marker (JSON) and what "rtt dev" and "rtt wait-ready" print.
type Endpoints struct {
	// PID is the process id of "rtt dev".
	PID int `json:"pid"`
	// API is the base URL of ingest's HTTP API.
	API string `json:"api"`
	// NATS is the URL of ingest's embedded NATS server.
	NATS string `json:"nats"`
	// ClickHouse is host:port of the native protocol, ClickHouseHTTP the
	// HTTP interface's URL, Database the sink's database.
	ClickHouse     string `json:"clickhouse"`
	ClickHouseHTTP string `json:"clickhouse_http"`
	Database       string `json:"clickhouse_database"`
	// DataDir is the data folder (absolute when written by Dev).
	DataDir string `json:"data_dir"`
	// Services lists every child with its readiness and metrics URLs.
	Services []ServiceEndpoints `json:"services"`
}

// ServiceEndpoints are the URLs of one child of the stack.
type ServiceEndpoints struct {
	Name string `json:"name"`
	// Ready answers 200 when the service is ready.
	Ready string `json:"ready"`
	// Metrics serves Prometheus metrics; empty for ClickHouse.
	Metrics string `json:"metrics,omitempty"`
}

// Endpoints returns where a stack with this configuration listens; pid is
// recorded as Endpoints.PID.
func (c Config) Endpoints(pid int) Endpoints {
	api := "http://" + dialAddr(c.Addr)
	svc := func(name, addr string) ServiceEndpoints {
		base := "http://" + dialAddr(addr)
		return ServiceEndpoints{Name: name, Ready: base + "/readyz", Metrics: base + "/metrics"}
	}
	chHTTP := "http://" + loopback(c.ClickHouse.HTTPPort)
	return Endpoints{
		PID:            pid,
		API:            api + APIPath,
		NATS:           "nats://" + loopback(c.NATSPort),
		ClickHouse:     loopback(c.ClickHouse.TCPPort),
		ClickHouseHTTP: chHTTP,
		Database:       c.Database,
		DataDir:        c.ClickHouse.DataDir,
		Services: []ServiceEndpoints{
			{Name: "clickhouse", Ready: chHTTP + "/ping"},
			svc("ingest", c.Addr),
			svc("drift", c.DriftAddr),
			svc("corridor", c.CorridorAddr),
			svc("sink", c.SinkAddr),
		},
	}
}

// Print writes the endpoints for people, one per line.
func (e Endpoints) Print(w io.Writer) {
	fmt.Fprintf(w, "  API          %s\n", e.API)
	fmt.Fprintf(w, "  NATS         %s\n", e.NATS)
	fmt.Fprintf(w, "  ClickHouse   %s (native), %s (HTTP), database %s\n", e.ClickHouse, e.ClickHouseHTTP, e.Database)
	first := true
	for _, s := range e.Services {
		if s.Metrics == "" {
			continue
		}
		label := ""
		if first {
			label, first = "Metrics", false
		}
		fmt.Fprintf(w, "  %-12s %-9s %s\n", label, s.Name, s.Metrics)
	}
	fmt.Fprintf(w, "  Data         %s\n", e.DataDir)
	fmt.Fprintf(w, "  Try          curl -s -XPOST %s/beacon -H 'Content-Type: application/json' -d '%s'\n", e.API, exampleBeacon)
}

// exampleBeacon is a minimal valid beacon for the hint Print gives.
const exampleBeacon = `{"site":"demo","session":"s1","event":"heartbeat","ts":"2025-01-01T00:00:00Z","structure":{"url":"/","title":"Home","nav_count":1,"main_count":1,"form_count":0,"button_count":2,"dom_nodes":120}}`

// RunDir is the folder under the data folder that holds the pid file, the
// ready marker and the log of "make up".
func RunDir(dataDir string) string { return filepath.Join(dataDir, "run") }

// MarkerPath is the ready marker of the stack whose data folder is dataDir.
func MarkerPath(dataDir string) string { return filepath.Join(RunDir(dataDir), "ready") }

// PIDPath is the pid file of "rtt dev" for the data folder dataDir.
func PIDPath(dataDir string) string { return filepath.Join(RunDir(dataDir), "rtt.pid") }

// writeMarker writes e to path atomically, so that a reader never sees half.
func writeMarker(path string, e Endpoints) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write ready marker: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write ready marker: %w", err)
	}
	return nil
}

// ReadMarker reads the ready marker at path. The error wraps fs.ErrNotExist
// when there is none.
func ReadMarker(path string) (Endpoints, error) {
	var e Endpoints
	b, err := os.ReadFile(path)
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("ready marker %s: %w", path, err)
	}
	if e.PID <= 0 || e.API == "" || len(e.Services) == 0 {
		return e, fmt.Errorf("ready marker %s: incomplete: %s", path, strings.TrimSpace(string(b)))
	}
	return e, nil
}

// errNoMarker is what waitReady reports while no marker exists.
var errNoMarker = errors.New("no ready marker yet")
