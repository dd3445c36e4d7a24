package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		code     int
		stdout   []string
		stderr   []string
		noStdout bool
	}{
		{name: "help lists every command", args: []string{"help"}, code: 0,
			stdout: []string{"dev ", "wait-ready ", "clickhouse ", "loadgen ", "beacon ", "check ", "help "}},
		{name: "help beacon shows CI examples", args: []string{"help", "beacon"}, code: 0,
			stdout: []string{"Usage: rtt beacon --site SITE --event EVENT", "Exit codes:", "GitHub Actions", "GitLab CI", "-url-base", "RTT_BEACON_<FLAG>"}},
		{name: "help check lists the items", args: []string{"help", "check"}, code: 0,
			stdout: []string{"Usage: rtt check", "observability receives RTT signals", "-metrics", "RTT_CHECK_<FLAG>"}},
		{name: "beacon usage error", args: []string{"beacon", "--event", "e"}, code: 2, noStdout: true,
			stderr: []string{"rtt beacon: --site is required"}},
		{name: "check usage error", args: []string{"check", "--timeout", "-1s"}, code: 2, noStdout: true,
			stderr: []string{"rtt check: --timeout: must be positive"}},
		{name: "check with a bad URL", args: []string{"check", "--metrics", "localhost:8080/metrics"}, code: 2, noStdout: true,
			stderr: []string{`rtt check: --metrics: "localhost:8080/metrics" is not an http:// or https:// URL with a host`}},
		{name: "no command", args: nil, code: 2, stderr: []string{"Usage: rtt <command>"}, noStdout: true},
		{name: "unknown command", args: []string{"serve"}, code: 2, stderr: []string{`rtt: unknown command "serve"`, "wait-ready"}},
		{name: "help for a command", args: []string{"help", "dev"}, code: 0,
			stdout: []string{"Usage: rtt dev [flags]", "-bin-dir", "-clickhouse-http-port", "-demo", "RTT_DATA_DIR"}},
		{name: "dev -h", args: []string{"dev", "-h"}, code: 0, stderr: []string{"-ready-timeout"}},
		{name: "bad flag value", args: []string{"dev", "-nats-port", "0", "-data-dir", "/nonexistent/rtt"}, code: 1,
			stderr: []string{"rtt dev: nats-port: 0 is not a port"}},
		{name: "flag from the environment", args: []string{"dev", "-data-dir", "/nonexistent/rtt"}, env: map[string]string{"RTT_LOG_FORMAT": "xml"}, code: 1,
			stderr: []string{`rtt dev: log-format: unknown format "xml"`}},
		{name: "wait-ready times out", args: []string{"wait-ready", "-timeout", "100ms", "-data-dir", "/nonexistent/rtt"}, code: 1,
			stderr: []string{"rtt wait-ready: not ready within 100ms: no ready marker at /nonexistent/rtt/run/ready yet"}},
		{name: "loadgen -h", args: []string{"loadgen", "-h"}, code: 0, stderr: []string{"rtt loadgen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, &stdout, &stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, &stdout)
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, &stderr)
				}
			}
			if tt.noStdout && stdout.Len() > 0 {
				t.Errorf("stdout not empty:\n%s", &stdout)
			}
		})
	}
}
