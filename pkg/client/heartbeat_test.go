package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/client"
)

func TestHeartbeatSendsUntilStopped(t *testing.T) {
	var bad atomic.Bool
	f := newFakeAPI(t, func(_ int, w http.ResponseWriter, _ *http.Request, body []byte) {
		if bad.Load() {
			writeError(w, http.StatusBadRequest, "invalid", "site: too long", []client.Violation{{Field: "site", Rule: "too long"}})
			return
		}
		beaconOK(w, body, false)
	})
	errs := make(chan error, 100)
	c := fastClient(f, client.WithErrorHandler(func(err error) { errs <- err }))
	var calls atomic.Int64
	stop := c.Heartbeat(context.Background(), 10*time.Millisecond, func() client.Beacon {
		calls.Add(1)
		b := heartbeat("dc-east")
		b.TS = time.Time{} // the send time
		return b
	})
	checkFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if n := len(f.requests()); n < 3 {
			return fmt.Errorf("%d heartbeats sent, want 3", n)
		}
		return nil
	})
	bad.Store(true)
	select {
	case err := <-errs:
		if !errors.Is(err, client.ErrInvalid) {
			t.Fatalf("error handler got %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the error handler was not called")
	}
	stop()
	stop() // idempotent
	n := len(f.requests())
	time.Sleep(50 * time.Millisecond)
	if len(f.requests()) != n {
		t.Fatal("heartbeats went on after stop")
	}
	reqs := f.requests()
	if string(reqs[0].Body) == string(reqs[1].Body) {
		t.Fatal("two heartbeats with the same body: TS was not filled per send")
	}
}

func TestHeartbeatStopsWithItsContext(t *testing.T) {
	f := newFakeAPI(t, func(_ int, w http.ResponseWriter, _ *http.Request, body []byte) { beaconOK(w, body, false) })
	ctx, cancel := context.WithCancel(context.Background())
	stop := fastClient(f).Heartbeat(ctx, time.Hour, func() client.Beacon { return heartbeat("dc-east") })
	checkFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if len(f.requests()) == 0 {
			return errors.New("no heartbeat sent at once")
		}
		return nil
	})
	cancel()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("stop did not return after the context ended")
	}
}
