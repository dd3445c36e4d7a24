package ingest_test

import (
	"strings"
	"testing"

	"github.com/rtt-dev/rtt/services/ingest/internal/ingest"
)

// Every unusable setting is refused with the name of its flag.
func TestConfigValidateNamesTheFlag(t *testing.T) {
	base := func() ingest.Config {
		var c ingest.Config
		c.Register(flagSet())
		return c
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		flag string
		set  func(*ingest.Config)
	}{
		{"addr", func(c *ingest.Config) { c.Addr = "" }},
		{"data-dir", func(c *ingest.Config) { c.DataDir = "" }},
		{"max-body-bytes", func(c *ingest.Config) { c.MaxBodyBytes = 10 }},
		{"max-batch-bytes", func(c *ingest.Config) { c.MaxBatchBytes = c.MaxBodyBytes - 1 }},
		{"max-batch-items", func(c *ingest.Config) { c.MaxBatchItems = 0 }},
		{"publish-timeout", func(c *ingest.Config) { c.PublishTimeout = 0 }},
		{"publish-window", func(c *ingest.Config) { c.PublishWindow = 0 }},
		{"max-clock-skew", func(c *ingest.Config) { c.MaxClockSkew = -1 }},
		{"metrics-max-clusters", func(c *ingest.Config) { c.MaxClusters = 0 }},
		{"memory-limit", func(c *ingest.Config) { c.MemoryLimit = 1 << 20 }},
	} {
		c := base()
		tc.set(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.flag+":") {
			t.Errorf("%s: got %v, want an error naming the flag", tc.flag, err)
		}
	}
	c := base()
	c.MemoryLimit = 0
	if err := c.Validate(); err != nil {
		t.Errorf("memory-limit 0 (none): %v", err)
	}
}
