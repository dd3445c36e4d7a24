package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// PollInterval is how often WaitReady asks a ReadyURL again.
const PollInterval = 100 * time.Millisecond

// NotReadyError reports a child whose ReadyURL did not answer 200 in time.
type NotReadyError struct {
	// Name is the child's Spec.Name; URL its ReadyURL.
	Name, URL string
	// Timeout is how long WaitReady waited.
	Timeout time.Duration
	// Last is the last answer or error of the probe.
	Last error
	// Tail holds the last lines of the child's output.
	Tail string
}

// Error names the child, its readiness URL and last answer, and quotes its
// last output.
func (e *NotReadyError) Error() string {
	return fmt.Sprintf("%s did not become ready within %s (GET %s: %v)%s", e.Name, e.Timeout, e.URL, e.Last, formatTail(e.Name, e.Tail))
}

// WaitReady blocks until every given child answers 200 on its ReadyURL,
// polling them all at once. It fails with a *NotReadyError naming a child
// that is not ready when timeout has passed, with the *ExitError of a child
// (any of the supervisor's, not only these) that exits meanwhile, or with
// ctx's error.
func (s *Supervisor) WaitReady(ctx context.Context, timeout time.Duration, children ...*Child) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deadline := time.Now().Add(timeout)

	errs := make(chan error, len(children))
	var wg sync.WaitGroup
	for _, c := range children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.waitOne(ctx, c, deadline, timeout)
		}()
	}
	go func() { wg.Wait(); close(errs) }()

	for {
		select {
		case err, ok := <-errs:
			if !ok {
				return nil
			}
			if err != nil {
				return err
			}
		case <-s.done:
			if err := s.Err(); err != nil {
				return err
			}
			return ErrStopping
		}
	}
}

func (s *Supervisor) waitOne(ctx context.Context, c *Child, deadline time.Time, timeout time.Duration) error {
	if c.spec.ReadyURL == "" {
		return nil
	}
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		last := Probe(ctx, c.spec.ReadyURL)
		if last == nil {
			return nil
		}
		select {
		case <-c.done:
			// Either c exited by itself (then it is the cause), or the
			// supervisor stopped it because of another child or Stop.
			if err := s.Err(); err != nil {
				return err
			}
			return ErrStopping
		case <-timer.C:
			return &NotReadyError{Name: c.Name(), URL: c.spec.ReadyURL, Timeout: timeout, Last: last, Tail: c.Tail(tailLines)}
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// probeClient does not keep connections: an idle keep-alive connection delays
// the shutdown of some servers (ClickHouse 18.16 waits for it).
var probeClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// Probe sends one GET to target and returns nil if it answers 200, otherwise an
// error with the status and the start of the body, or the transport error.
func Probe(ctx context.Context, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			err = uerr.Err // the caller names the method and URL
		}
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
}
