package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtt-dev/rtt/pkg/natsx"
)

// poster sends POST /beacons with keep-alive connections, as an SDK's
// batcher would, and counts what was stored.
type poster struct {
	url    string
	client *http.Client

	accepted atomic.Int64 // beacons answered "ok"
	failed   atomic.Int64 // beacons not stored (any non-200 answer or error)
	lastErr  atomic.Value // string
}

func newPoster(api string, conns int) *poster {
	return &poster{url: api + "/beacons", client: &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute, DisableCompression: true,
		},
	}}
}

// post sends one batch of n beacons and reports whether all were stored.
// 200 means every item was stored (the API's contract); anything else is
// counted as failed, with the answer kept as the last error.
func (p *poster) post(ctx context.Context, body []byte, n int) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		p.fail(n, err.Error())
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		p.fail(n, err.Error())
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		var ans struct{ Accepted int }
		_ = json.Unmarshal(b, &ans)
		p.accepted.Add(int64(ans.Accepted))
		p.fail(n-ans.Accepted, fmt.Sprintf("%d %.300s", resp.StatusCode, b))
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	p.accepted.Add(int64(n))
	return true
}

func (p *poster) fail(n int, msg string) {
	p.failed.Add(int64(n))
	p.lastErr.Store(msg)
}

func (p *poster) err() error {
	if n := p.failed.Load(); n > 0 {
		msg, _ := p.lastErr.Load().(string)
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return fmt.Errorf("%d beacons not stored; last answer: %s", n, msg)
	}
	return nil
}

// phaseIngest measures figure 2: beacons accepted per second through
// POST /beacons, Clients requests in flight, each answered 200 only after
// ingest validated every item and JetStream acknowledged it. Only ingest
// runs (no consumers), as for figure 1. The last run's beacons stay in
// RTT_BEACONS for the sink phase.
func (e *env) phaseIngest(ctx context.Context, rep *Report) error {
	var runs []float64
	for i := range e.cfg.Runs {
		if err := e.purge(ctx, natsx.StreamBeacons); err != nil {
			return err
		}
		items := e.corpus.Make(e.cfg.Beacons, time.Now())
		var bodies [][]byte
		var sizes []int
		for k := 0; k < len(items); k += e.cfg.Batch {
			batch := items[k:min(k+e.cfg.Batch, len(items))]
			bodies = append(bodies, body(batch))
			sizes = append(sizes, len(batch))
		}
		p := newPoster(e.api, e.cfg.Clients)
		work := make(chan int)
		var wg sync.WaitGroup
		start := time.Now()
		for range e.cfg.Clients {
			wg.Go(func() {
				for k := range work {
					p.post(ctx, bodies[k], sizes[k])
				}
			})
		}
		for k := range bodies {
			work <- k
		}
		close(work)
		wg.Wait()
		elapsed := time.Since(start)
		if err := p.err(); err != nil {
			return err
		}
		c, err := e.beaconCensus(ctx)
		if err != nil {
			return err
		}
		if stored := c.total(); stored != uint64(len(items)) {
			return fmt.Errorf("RTT_BEACONS holds %d beacons, %d were accepted", stored, len(items))
		}
		rate := float64(p.accepted.Load()) / elapsed.Seconds()
		e.logf("ingest POST /beacons, run %d: %.0f beacons/s (%d clients, %d per request)", i+1, rate, e.cfg.Clients, e.cfg.Batch)
		runs = append(runs, rate)
	}
	rep.add(Figure{Name: "ingest_http_beacons", Value: median(runs), Unit: "beacons/s", runs: runs})
	return nil
}
