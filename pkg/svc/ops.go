package svc

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtt-dev/rtt/pkg/promx"
)

// Ops is a service's operations endpoint: /metrics, /healthz, /readyz.
type Ops struct {
	srv *http.Server
	ln  net.Listener
}

// ServeOps listens on addr and serves reg's metrics, /healthz (always ok
// while the process runs) and /readyz (ok when ready returns nil).
func ServeOps(addr string, reg *prometheus.Registry, ready func(context.Context) error) (*Ops, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promx.Handler(reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			writeStatus(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeStatus(w, http.StatusOK, "ok")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	o := &Ops{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	go o.srv.Serve(ln)
	return o, nil
}

// Addr is the address the endpoint listens on.
func (o *Ops) Addr() string { return o.ln.Addr().String() }

// Shutdown stops the endpoint.
func (o *Ops) Shutdown(ctx context.Context) error { return o.srv.Shutdown(ctx) }

func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": status})
}
