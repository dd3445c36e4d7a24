package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtt-dev/rtt/pkg/natsx"
)

// metric reads one sample of a Prometheus text endpoint: the first line of
// metric name whose labels contain every one of labels (as `k="v"`).
func metric(url, name string, labels ...string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				continue next
			}
		}
		i := strings.LastIndexByte(rest, ' ')
		return strconv.ParseFloat(rest[i+1:], 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, nil // not reported yet: nothing counted
}

// sinkProc starts the sink writing into database db.
func (e *env) sinkProc(ctx context.Context, db string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	ops := fmt.Sprintf("http://127.0.0.1:%d", port)
	p, err := startProc(ctx, e.bin("sink"), "sink", e.work, []string{
		"RTT_NATS_URL=" + e.natsURL,
		"RTT_CLICKHOUSE_ADDR=" + e.ch.Addr(),
		"RTT_CLICKHOUSE_DATABASE=" + db,
		fmt.Sprintf("RTT_SINK_ADDR=127.0.0.1:%d", port),
	}, ops+"/readyz")
	return p, ops, err
}

// phaseSink measures figure 4: rows per second the sink inserts from a
// pre-filled RTT_BEACONS (the beacons of the last ingest run), each run
// into a new database with a new durable consumer. The clock starts at the
// first acknowledged batch (so the process start and the migrations are not
// counted) and stops when every beacon is acknowledged, that is a row.
func (e *env) phaseSink(ctx context.Context, rep *Report) error {
	st, err := e.js.Stream(ctx, natsx.StreamBeacons)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs == 0 {
		return fmt.Errorf("RTT_BEACONS is empty: the ingest phase fills it")
	}
	c, err := e.beaconCensus(ctx)
	if err != nil {
		return err
	}
	want := c.total()
	var runs []float64
	for i := range e.cfg.Runs {
		db := fmt.Sprintf("bench_sink_%d", i+1)
		if err := e.chConn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			return err
		}
		for _, s := range []string{natsx.StreamBeacons, natsx.StreamControl, natsx.StreamDerived, natsx.StreamDLQ} {
			if err := e.dropConsumers(ctx, s); err != nil {
				return err
			}
		}
		p, _, err := e.sinkProc(ctx, db)
		if err != nil {
			return err
		}
		// The sink acknowledges a message once its row is inserted: the
		// consumer's acknowledgement floor counts the rows, read from NATS
		// rather than from the sink's /metrics, whose scrape costs the
		// sink CPU.
		var t0 time.Time
		var v0 float64
		deadline := time.Now().Add(3 * time.Minute)
		for {
			v, err := e.acked(ctx, natsx.StreamBeacons, "sink-beacons", c)
			now := time.Now()
			if err != nil {
				p.stop()
				return err
			}
			if v > 0 && t0.IsZero() {
				t0, v0 = now, v
			}
			if v >= float64(want) {
				if now.Sub(t0) < time.Second {
					p.stop()
					return fmt.Errorf("the sink took %d rows in %s: too fast to time, raise -beacons", want, now.Sub(t0))
				}
				rate := (float64(want) - v0) / now.Sub(t0).Seconds()
				e.logf("sink, run %d: %.0f rows/s (%d rows)", i+1, rate, want)
				runs = append(runs, rate)
				break
			}
			if err := p.alive(); err != nil {
				return err
			}
			if now.After(deadline) {
				p.stop()
				return fmt.Errorf("the sink inserted %.0f of %d rows in 3 minutes", v, want)
			}
			time.Sleep(25 * time.Millisecond)
		}
		if err := p.stop(); err != nil {
			return err
		}
		var n uint64
		if err := e.chConn.QueryRow(ctx, "SELECT count() FROM "+db+".beacons").Scan(&n); err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("%s.beacons holds %d rows, want %d", db, n, want)
		}
		// The raw ClickHouse phase inserts the very rows the sink wrote,
		// read after the last run: holding them in this process's heap
		// while the sink runs would not be neutral.
		if i == e.cfg.Runs-1 {
			if e.rowCols, e.rows, err = e.readRows(ctx, db+".beacons"); err != nil {
				return err
			}
		}
		// Dropped, so that its background merges do not slow the next runs.
		if err := e.chConn.Exec(ctx, "DROP DATABASE "+db); err != nil {
			return err
		}
	}
	rep.add(Figure{Name: "sink_rows", Value: median(runs), Unit: "rows/s", runs: runs})
	return nil
}

// acked is how many beacons of stream a consumer acknowledged: those of
// every message up to its acknowledgement floor, counted by cen (the sink
// acknowledges in stream order within a batch, and batches one after the
// other). 0 until the consumer exists.
func (e *env) acked(ctx context.Context, stream, consumer string, cen census) (float64, error) {
	c, err := e.js.Consumer(ctx, stream, consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, err
	}
	return float64(cen.upTo(info.AckFloor.Stream)), nil
}

// dropConsumers deletes every consumer of stream.
func (e *env) dropConsumers(ctx context.Context, stream string) error {
	s, err := e.js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	names := s.ConsumerNames(ctx)
	var all []string
	for name := range names.Name() {
		all = append(all, name)
	}
	for _, name := range all {
		if err := s.DeleteConsumer(ctx, name); err != nil {
			return err
		}
	}
	return nil
}
