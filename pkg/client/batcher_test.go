package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/client"
)

func okBatches(t *testing.T) *fakeAPI {
	return newFakeAPI(t, func(_ int, w http.ResponseWriter, _ *http.Request, body []byte) {
		ids := eventIDs(t, body)
		st := make([]string, len(ids))
		for i := range st {
			st[i] = "ok"
		}
		batchAnswer(w, ids, st)
	})
}

func TestBatcherFlushesBySizeAndOnClose(t *testing.T) {
	f := okBatches(t)
	var mu sync.Mutex
	var sizes []int
	accepted := 0
	b := fastClient(f).NewBatcher(client.BatcherConfig{MaxItems: 10, MaxDelay: time.Hour, Concurrency: 3,
		OnFlush: func(items []client.Beacon, res client.BatchResult, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("flush: %v", err)
			}
			sizes = append(sizes, len(items))
			accepted += res.Accepted
		}})
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 5 {
		wg.Go(func() {
			for i := range 9 {
				bc := heartbeat(fmt.Sprintf("dc-%d-%d", g, i))
				if err := b.Add(ctx, bc); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(ctx, heartbeat("late")); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if accepted != 45 {
		t.Fatalf("%d accepted, want 45 (batches %v)", accepted, sizes)
	}
	full := 0
	for _, n := range sizes {
		if n == 10 {
			full++
		}
	}
	if full != 4 || len(sizes) != 5 {
		t.Fatalf("batch sizes %v, want four of 10 and the rest on Close", sizes)
	}
	ids := map[string]bool{}
	for _, r := range f.requests() {
		for _, id := range eventIDs(t, r.Body) {
			if ids[id] {
				t.Fatalf("event id %s sent twice", id)
			}
			ids[id] = true
		}
	}
}

func TestBatcherFlushesByAge(t *testing.T) {
	f := okBatches(t)
	b := fastClient(f).NewBatcher(client.BatcherConfig{MaxItems: 1000, MaxDelay: 20 * time.Millisecond})
	defer b.Close(context.Background())
	if err := b.Add(context.Background(), heartbeat("dc-east")); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if len(f.requests()) != 1 {
			return errors.New("the buffered beacon was not sent after MaxDelay")
		}
		return nil
	})
}

func TestBatcherCloseReportsFlushErrorsAndGivesUpWithItsContext(t *testing.T) {
	block := make(chan struct{})
	f := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request, _ []byte) {
		if n == 1 {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", "split it", nil)
			return
		}
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	defer close(block)
	b := fastClient(f).NewBatcher(client.BatcherConfig{MaxItems: 1, Concurrency: 1})
	ctx := context.Background()
	if err := b.Add(ctx, heartbeat("a")); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if len(f.requests()) != 1 {
			return errors.New("first batch not sent")
		}
		return nil
	})
	if err := b.Add(ctx, heartbeat("b")); err != nil { // hangs on the server
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := b.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want the deadline", err)
	}

	f2 := newFakeAPI(t, func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "split it", nil)
	})
	b2 := fastClient(f2).NewBatcher(client.BatcherConfig{})
	_ = b2.Add(ctx, heartbeat("a"))
	if err := b2.Close(ctx); !errors.Is(err, client.ErrTooLarge) {
		t.Fatalf("Close: %v, want the flush's error", err)
	}
}

func TestBatcherAddKeepsTheBeaconWhenItsContextEnds(t *testing.T) {
	release := make(chan struct{})
	f := newFakeAPI(t, func(_ int, w http.ResponseWriter, _ *http.Request, body []byte) {
		<-release
		ids := eventIDs(t, body)
		st := make([]string, len(ids))
		for i := range st {
			st[i] = "ok"
		}
		batchAnswer(w, ids, st)
	})
	var mu sync.Mutex
	accepted := 0
	b := fastClient(f).NewBatcher(client.BatcherConfig{MaxItems: 1, MaxDelay: time.Hour, Concurrency: 1,
		OnFlush: func(_ []client.Beacon, res client.BatchResult, _ error) {
			mu.Lock()
			accepted += res.Accepted
			mu.Unlock()
		}})
	ctx := context.Background()
	for _, site := range []string{"a", "b"} { // one in flight, one queued
		if err := b.Add(ctx, heartbeat(site)); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if len(f.requests()) != 1 {
			return errors.New("first batch not in flight")
		}
		return nil
	})
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := b.Add(short, heartbeat("c")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Add with every sender busy: %v, want the deadline", err)
	}
	close(release)
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if accepted != 3 {
		t.Fatalf("%d accepted, want 3: the beacon of the cancelled Add must be sent on Close", accepted)
	}
}
