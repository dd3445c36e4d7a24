// Package promx holds Prometheus helpers shared by rtt's services.
package promx

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Overflow is the label value that stands for every value past a LabelCap's
// limit.
const Overflow = "__overflow__"

// LabelCap bounds the cardinality of a label whose values come from clients
// (a beacon's cluster): the first Max distinct values pass through, later new
// ones become Overflow, so a flood of new names cannot grow memory without
// bound. It is safe for concurrent use.
type LabelCap struct {
	max  int
	mu   sync.RWMutex
	seen map[string]struct{}
}

// NewLabelCap returns a LabelCap admitting max distinct values.
func NewLabelCap(max int) *LabelCap {
	return &LabelCap{max: max, seen: make(map[string]struct{})}
}

// Value returns v if it is admitted, else Overflow.
func (c *LabelCap) Value(v string) string {
	c.mu.RLock()
	_, ok := c.seen[v]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[v]; ok {
		return v
	}
	if len(c.seen) >= c.max {
		return Overflow
	}
	c.seen[v] = struct{}{}
	return v
}

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in the Prometheus text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
