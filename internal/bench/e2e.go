package bench

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtt-dev/rtt/pkg/natsx"
)

const e2eDB = "bench_e2e"

// pollEvery is how often the latency probes are looked for in ClickHouse:
// the resolution of the latency figures.
const pollEvery = 25 * time.Millisecond

// pipeline is the whole stack of figure 5: ingest (already running, with
// its embedded NATS), drift, corridor and the sink into e2eDB.
type pipeline struct {
	e         *env
	procs     []*proc // ingest, drift, corridor, sink
	sinkOps   string
	consumers map[string]jetstream.Consumer // the durable consumers of RTT_BEACONS
	accepted  int64                         // beacons stored over all steps
	rep       *Report
}

// stepResult is one measured step of the end-to-end search.
type stepResult struct {
	rate      float64            // offered beacons/s
	accepted  float64            // beacons/s answered 200 in the window
	delivered float64            // rows/s the sink inserted in the window
	slopes    map[string]float64 // backlog growth of each consumer, beacons/s
	failed    int64
	ok        bool
	latencies []time.Duration // 2xx to visible row, of the probes
	missing   int             // probes never seen in ClickHouse
}

func (r stepResult) String() string {
	var sl []string
	for _, name := range slices.Sorted(maps.Keys(r.slopes)) {
		sl = append(sl, fmt.Sprintf("%s %+.0f/s", name, r.slopes[name]))
	}
	verdict := "flat"
	if !r.ok {
		verdict = "NOT sustained"
	}
	return fmt.Sprintf("offered %.0f/s: accepted %.0f/s, into ClickHouse %.0f/s, backlog growth %s, failed %d: %s",
		r.rate, r.accepted, r.delivered, strings.Join(sl, ", "), r.failed, verdict)
}

// phaseEndToEnd measures figures 5 and 6. It searches the highest offered
// rate the whole pipeline sustains (every beacon answered 200, the backlog
// of every consumer of RTT_BEACONS flat), measures that rate Runs times and
// the latency from 2xx to a visible row at half of it, and the peak memory
// of each service during those runs.
func (e *env) phaseEndToEnd(ctx context.Context, rep *Report) error {
	pl, err := e.startPipeline(ctx)
	if err != nil {
		return err
	}
	pl.rep = rep
	defer pl.stop()

	// The search starts well below the slowest part measured alone.
	upper := 40_000.0
	if v, ok := rep.get("ingest_http_beacons"); ok {
		upper = v
	}
	if v, ok := rep.get("sink_rows"); ok {
		upper = min(upper, v)
	}
	r := roundRate(upper * 0.3)
	var lo, hi float64
	if e.cfg.E2ERate > 0 {
		r = e.cfg.E2ERate
	}
	e.logf("end to end: searching the sustained rate from %.0f beacons/s", r)
	for step := 0; step < 8; step++ {
		res, err := pl.step(ctx, r, e.cfg.Window, false)
		if err != nil {
			return err
		}
		e.logf("  %s", res)
		rep.notef("e2e search: %s", res)
		if res.ok {
			lo = r
		} else {
			hi = r
		}
		switch {
		case e.cfg.E2ERate > 0: // measured at this rate, sustained or not
			lo, step = r, 99
		case hi == 0:
			r = roundRate(r * 1.4)
		case lo == 0:
			r = roundRate(r * 0.6)
		default:
			if (hi-lo)/lo < 0.1 {
				step = 99
			}
			r = roundRate((lo + hi) / 2)
		}
	}
	if lo == 0 {
		return fmt.Errorf("no offered rate was sustained")
	}
	// Runs at the rate found; when most are not flat, 10 % lower. Each
	// attempt starts new processes, so their peak memory is that of the
	// runs at the rate reported and at half of it, not of overloaded steps.
	peakSearch := map[string]int64{}
	var sustained []stepResult
	flat := 0
	for attempt := 0; ; attempt++ {
		for _, p := range pl.procs {
			hwm, _ := memKiB(p.pid(), "VmHWM")
			peakSearch[p.name] = max(peakSearch[p.name], hwm)
		}
		if err := pl.restart(ctx); err != nil {
			return err
		}
		sustained, flat = sustained[:0], 0
		for len(sustained) < e.cfg.Runs && len(sustained)-flat <= e.cfg.Runs/2 {
			res, err := pl.step(ctx, lo, e.cfg.Window, false)
			if err != nil {
				return err
			}
			e.logf("  run at %.0f/s: %s", lo, res)
			rep.notef("e2e run: %s", res)
			sustained = append(sustained, res)
			if res.ok {
				flat++
			}
		}
		if 2*flat > len(sustained) || attempt == 2 || e.cfg.E2ERate > 0 {
			break
		}
		lo = roundRate(lo * 0.9)
		e.logf("  not flat in most runs: trying %.0f/s", lo)
	}
	var accepted, delivered []float64
	for _, s := range sustained {
		accepted = append(accepted, s.accepted)
		delivered = append(delivered, s.delivered)
	}
	rep.add(Figure{Name: "e2e_sustained_rate", Value: median(accepted), Unit: "beacons/s", runs: accepted,
		note: fmt.Sprintf("offered %.0f/s, flat in %d of %d runs", lo, flat, len(sustained))})
	rep.add(Figure{Name: "e2e_into_clickhouse", Value: median(delivered), Unit: "rows/s", runs: delivered})

	half := roundRate(lo / 2)
	var p50s, p99s []float64
	for range e.cfg.Runs {
		res, err := pl.step(ctx, half, e.cfg.Window, true)
		if err != nil {
			return err
		}
		if len(res.latencies) == 0 {
			return fmt.Errorf("no probe became visible at %.0f/s", half)
		}
		p50, p99 := quantile(res.latencies, 0.50), quantile(res.latencies, 0.99)
		e.logf("  latency at %.0f/s: p50 %s, p99 %s over %d probes (%d never seen); %s", half, p50, p99, len(res.latencies), res.missing, res)
		p50s = append(p50s, float64(p50.Milliseconds()))
		p99s = append(p99s, float64(p99.Milliseconds()))
		if res.missing > 0 {
			return fmt.Errorf("%d probes never became visible", res.missing)
		}
	}
	rep.add(Figure{Name: "e2e_latency_p50", Value: median(p50s), Unit: "ms", runs: p50s, note: fmt.Sprintf("at %.0f/s", half)})
	rep.add(Figure{Name: "e2e_latency_p99", Value: median(p99s), Unit: "ms", runs: p99s, note: fmt.Sprintf("at %.0f/s", half)})

	for _, p := range pl.procs {
		hwm, err := memKiB(p.pid(), "VmHWM")
		if err != nil {
			return err
		}
		rep.add(Figure{Name: "rss_peak_" + p.name, Value: float64(hwm) / 1024, Unit: "MiB",
			note: fmt.Sprintf("%.0f MiB before, in the search", float64(peakSearch[p.name])/1024)})
	}
	return pl.verify(ctx)
}

// roundRate rounds a rate to 2 significant digits.
func roundRate(r float64) float64 {
	if r <= 0 {
		return 100
	}
	unit := math.Pow(10, math.Floor(math.Log10(r))-1)
	return math.Round(r/unit) * unit
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}

// startPipeline empties the streams, starts ingest again (so its memory
// is that of this phase), registers the sites' profiles and starts drift,
// corridor and the sink.
func (e *env) startPipeline(ctx context.Context) (*pipeline, error) {
	for _, s := range []string{natsx.StreamBeacons, natsx.StreamControl, natsx.StreamDerived, natsx.StreamDLQ} {
		if err := e.purge(ctx, s); err != nil {
			return nil, err
		}
	}
	if err := e.chConn.Exec(ctx, "DROP DATABASE IF EXISTS "+e2eDB); err != nil {
		return nil, err
	}
	if err := e.restartIngest(ctx); err != nil {
		return nil, err
	}
	for site, prof := range e.corpus.profiles {
		resp, err := http.Post(e.api+"/profile/"+site, "application/json", bytes.NewReader(prof))
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("POST /profile/%s: %s", site, resp.Status)
		}
	}
	pl := &pipeline{e: e}
	if err := pl.startServices(ctx); err != nil {
		pl.stop()
		return nil, err
	}
	return pl, nil
}

// startServices starts drift, corridor and the sink beside ingest.
func (pl *pipeline) startServices(ctx context.Context) error {
	e := pl.e
	pl.procs = []*proc{e.ingest}
	for _, name := range []string{"drift", "corridor"} {
		port, err := freePort()
		if err != nil {
			return err
		}
		p, err := startProc(ctx, e.bin(name), name, e.work, []string{
			"RTT_NATS_URL=" + e.natsURL,
			fmt.Sprintf("RTT_%s_ADDR=127.0.0.1:%d", strings.ToUpper(name), port),
		}, fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err != nil {
			return err
		}
		pl.procs = append(pl.procs, p)
	}
	p, ops, err := e.sinkProc(ctx, e2eDB)
	if err != nil {
		return err
	}
	pl.procs, pl.sinkOps = append(pl.procs, p), ops
	pl.consumers = map[string]jetstream.Consumer{}
	for _, name := range []string{"drift", "corridor", "sink-beacons"} {
		c, err := e.js.Consumer(ctx, natsx.StreamBeacons, name)
		if err != nil {
			return fmt.Errorf("consumer %s: %w", name, err)
		}
		pl.consumers[name] = c
	}
	return nil
}

// restart stops every service and starts them again; the streams, the
// durable consumers and the database stay.
func (pl *pipeline) restart(ctx context.Context) error {
	pl.stop()
	if err := pl.e.restartIngest(ctx); err != nil {
		return err
	}
	return pl.startServices(ctx)
}

// stop stops drift, corridor and the sink (ingest stays for the env).
func (pl *pipeline) stop() {
	for _, p := range pl.procs[1:] {
		if err := p.stop(); err != nil {
			pl.e.logf("%v", err)
		}
	}
}

// backlog is how many messages a consumer has not acknowledged yet.
func backlog(ctx context.Context, c jetstream.Consumer) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := c.Info(ctx)
	if err != nil {
		return 0, err
	}
	return float64(info.NumPending + uint64(info.NumAckPending)), nil
}

// job is one POST /beacons of a step.
type job struct {
	body   []byte
	n      int
	probes []string  // event ids whose visibility is timed
	ts     time.Time // ts of the first beacon
	inWin  bool      // sent inside the measured window
}

// probeSet times probes from their 2xx to their row in ClickHouse.
type probeSet struct {
	mu      sync.Mutex
	acked   map[string]probeAck // 2xx received, row not seen yet
	latency []time.Duration
}

type probeAck struct{ at, ts time.Time }

func (ps *probeSet) ack(ids []string, at, ts time.Time) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, id := range ids {
		ps.acked[id] = probeAck{at: at, ts: ts}
	}
}

// poll asks ClickHouse which outstanding probes are visible, and returns
// how many are still outstanding.
func (ps *probeSet) poll(ctx context.Context, pl *pipeline) (int, error) {
	ps.mu.Lock()
	ids := make([]string, 0, len(ps.acked))
	var minTS time.Time
	for id, a := range ps.acked {
		ids = append(ids, "'"+id+"'")
		if minTS.IsZero() || a.ts.Before(minTS) {
			minTS = a.ts
		}
	}
	since := minTS.Add(-2 * time.Second).Unix()
	ps.mu.Unlock()
	if len(ids) == 0 {
		return 0, nil
	}
	at := time.Now()
	rows, err := pl.e.chConn.Query(ctx, fmt.Sprintf("SELECT event_id FROM %s.beacons WHERE ts >= toDateTime(%d) AND event_id IN (%s)",
		e2eDB, since, strings.Join(ids, ",")))
	if err != nil {
		if strings.Contains(err.Error(), "doesn't exist") {
			return len(ids), nil // before the sink's migrations
		}
		return 0, err
	}
	defer rows.Close()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return 0, err
		}
		if a, ok := ps.acked[id]; ok {
			ps.latency = append(ps.latency, at.Sub(a.at))
			delete(ps.acked, id)
		}
	}
	return len(ps.acked), rows.Err()
}

// step offers rate beacons/s for a warm-up of window/3 then window, and
// measures, over the window, the accepted rate, the rows inserted and the
// backlog growth of each consumer. With probe, two beacons of every request
// sent in the window are timed until their row is visible.
func (pl *pipeline) step(ctx context.Context, rate float64, window time.Duration, probe bool) (stepResult, error) {
	e := pl.e
	res := stepResult{rate: rate, slopes: map[string]float64{}}
	warm := window / 3
	const workers = 64
	p := newPoster(e.api, workers)
	jobs := make(chan job)
	ps := &probeSet{acked: map[string]probeAck{}}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				ok := p.post(ctx, j.body, j.n)
				if ok && len(j.probes) > 0 {
					ps.ack(j.probes, time.Now(), j.ts)
				}
			}
		})
	}

	// With probes, ClickHouse is asked every pollEvery which acknowledged
	// probes it shows, for the whole step.
	stopPolling, pollErr := make(chan struct{}), make(chan error, 1)
	if probe {
		go func() {
			for {
				select {
				case <-stopPolling:
					pollErr <- nil
					return
				case <-time.After(pollEvery):
				}
				if _, err := ps.poll(ctx, pl); err != nil {
					pollErr <- err
					return
				}
			}
		}()
	}

	type sample struct {
		t time.Duration
		v float64
	}
	samples := map[string][]sample{}
	start := time.Now()
	winStart, winEnd := start.Add(warm), start.Add(warm+window)
	// The sampler owns these until samplerDone is closed.
	var a0, a1, d0, d1 float64
	var ws, we time.Time // the window as sampled
	var samplerErr error
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		marked0 := false
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for now := range tick.C {
			if now.Before(winStart) {
				continue
			}
			if !marked0 {
				a0 = float64(p.accepted.Load())
				d0, samplerErr = metric(pl.sinkOps+"/metrics", "rtt_sink_rows_total", `table="beacons"`)
				ws, marked0 = now, true
			}
			for name, c := range pl.consumers {
				v, err := backlog(ctx, c)
				if err != nil {
					samplerErr = err
					return
				}
				// In beacons, as the rate: each request of the step is
				// one message of cfg.Batch beacons.
				samples[name] = append(samples[name], sample{now.Sub(ws), v * float64(pl.e.cfg.Batch)})
			}
			if !now.Before(winEnd) {
				a1 = float64(p.accepted.Load())
				d1, samplerErr = metric(pl.sinkOps+"/metrics", "rtt_sink_rows_total", `table="beacons"`)
				we = now
				return
			}
		}
	}()

	// The load goes on a second past the window, so that the sampler's
	// last mark, taken on the first tick after the window, still falls
	// inside it.
	per := time.Duration(float64(e.cfg.Batch) / rate * float64(time.Second))
	for k := 0; ; k++ {
		due := start.Add(time.Duration(k) * per)
		if !due.Before(start.Add(warm + window + time.Second)) {
			break
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		now := time.Now()
		items := e.corpus.Make(e.cfg.Batch, now)
		j := job{body: body(items), n: len(items), ts: now, inWin: now.After(winStart)}
		if probe && j.inWin {
			j.probes = []string{items[0].ID, items[len(items)/2].ID}
		}
		select {
		case jobs <- j:
		case <-ctx.Done():
			close(jobs)
			wg.Wait()
			return res, ctx.Err()
		}
	}
	<-samplerDone
	close(jobs)
	wg.Wait()
	if samplerErr != nil {
		return res, samplerErr
	}
	pl.accepted += p.accepted.Load()
	win := we.Sub(ws).Seconds()
	res.accepted = (a1 - a0) / win
	res.delivered = (d1 - d0) / win
	res.failed = p.failed.Load()
	res.ok = res.failed == 0 && res.accepted >= 0.95*rate
	for name, ss := range samples {
		var xs, ys []float64
		for _, s := range ss {
			xs, ys = append(xs, s.t.Seconds()), append(ys, s.v)
		}
		res.slopes[name] = slope(xs, ys)
		if res.slopes[name] > 0.03*rate+50 {
			res.ok = false
		}
	}
	if probe {
		close(stopPolling)
		if err := <-pollErr; err != nil {
			return res, err
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			left, err := ps.poll(ctx, pl)
			if err != nil {
				return res, err
			}
			if left == 0 || time.Now().After(deadline) {
				res.missing = left
				break
			}
			time.Sleep(pollEvery)
		}
		res.latencies = ps.latency
	}
	return res, pl.drain(ctx)
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy = sx+xs[i], sy+ys[i]
		sxx, sxy = sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// drain waits until every consumer caught up (at most a minute), so the
// next step starts from an empty backlog.
func (pl *pipeline) drain(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		total := 0.0
		for _, c := range pl.consumers {
			v, err := backlog(ctx, c)
			if err != nil {
				return err
			}
			total += v
		}
		if total == 0 {
			return nil
		}
		for _, p := range pl.procs {
			if err := p.alive(); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			pl.e.logf("  backlog of %.0f messages left after a minute of draining", total)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// amplification notes how many JetStream writes the pipeline made per
// accepted beacon: the beacon itself (in messages of a request's beacons),
// the derived records (one alignment per flow, drift events; in messages of
// the records of one beacon message) and the state snapshots of drift and
// corridor.
func (pl *pipeline) amplification(ctx context.Context) error {
	e := pl.e
	beaconMsgs, err := e.streamMsgs(ctx, natsx.StreamBeacons)
	if err != nil {
		return err
	}
	derivedMsgs, err := e.streamMsgs(ctx, natsx.StreamDerived)
	if err != nil {
		return err
	}
	var derived uint64
	for _, t := range []string{"alignments", "drift_events"} {
		var n uint64
		if err := e.chConn.QueryRow(ctx, "SELECT count() FROM "+e2eDB+"."+t+" FINAL").Scan(&n); err != nil {
			return err
		}
		derived += n
	}
	var state uint64
	for _, kv := range []string{"KV_rtt_drift_state", "KV_rtt_corridor_state"} {
		s, err := e.js.Stream(ctx, kv)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		state += info.State.LastSeq // every write since the bucket was made
	}
	b := float64(pl.accepted)
	e.logf("end to end: per beacon %.3f beacon messages, %.2f derived records in %.3f messages, %.2f state writes",
		float64(beaconMsgs)/b, float64(derived)/b, float64(derivedMsgs)/b, float64(state)/b)
	pl.rep.notef("e2e: per accepted beacon the pipeline stored %.3f messages of beacons, %.2f derived records in %.3f messages (RTT_DERIVED) "+
		"and %.2f state writes (KV); each durable consumer of RTT_BEACONS (drift, corridor, sink) read each message once",
		float64(beaconMsgs)/b, float64(derived)/b, float64(derivedMsgs)/b, float64(state)/b)
	return nil
}

// verify checks that every accepted beacon came out in ClickHouse once.
func (pl *pipeline) verify(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		var n uint64
		if err := pl.e.chConn.QueryRow(ctx, "SELECT uniqExact(event_id) FROM "+e2eDB+".beacons").Scan(&n); err != nil {
			return err
		}
		if int64(n) == pl.accepted {
			pl.e.logf("end to end: all %d accepted beacons are in ClickHouse", n)
			return pl.amplification(ctx)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s.beacons holds %d distinct beacons, %d were accepted", e2eDB, n, pl.accepted)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
