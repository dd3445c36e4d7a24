package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults of a Client made by New without options.
const (
	// DefaultBaseURL is the API's base URL when neither New's argument nor
	// RTT_URL names one.
	DefaultBaseURL = "http://127.0.0.1:8080/api/rtt"
	// DefaultTimeout bounds each HTTP attempt.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxAttempts is how many times a call is tried in all.
	DefaultMaxAttempts = 5
	// DefaultBackoff is the wait before the second attempt; it doubles for
	// each further one.
	DefaultBackoff = 100 * time.Millisecond
	// MaxBackoff caps the computed wait between attempts.
	MaxBackoff = 5 * time.Second
)

// maxAnswerBytes bounds what the client reads of an answer; a batch answer
// of 10,000 items is about 1.5 MB.
const maxAnswerBytes = 64 << 20

// Client talks to one rtt API. It is safe for concurrent use.
type Client struct {
	base     string
	token    string
	hc       *http.Client
	timeout  time.Duration
	attempts int
	backoff  time.Duration
	onError  func(error)
	sleep    func(ctx context.Context, d time.Duration) error
}

// Option configures a Client.
type Option func(*Client)

// WithToken sets the bearer token sent with every request, overriding
// RTT_TOKEN. An empty token sends no Authorization header.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient makes the Client send its requests through hc (for a custom
// transport, proxy or TLS configuration). A nil hc keeps the default.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithTimeout bounds each HTTP attempt (default 10 s); 0 or less leaves
// attempts bounded only by the caller's context.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithRetry sets how many attempts a call makes in all (default 5; 1 or less
// means no retries) and the backoff before the second attempt (default
// 100 ms; it doubles per attempt, gets jitter and is capped at MaxBackoff).
func WithRetry(maxAttempts int, base time.Duration) Option {
	return func(c *Client) {
		c.attempts = max(maxAttempts, 1)
		if base > 0 {
			c.backoff = base
		}
	}
}

// WithErrorHandler sets a function that receives the errors of background
// work (Heartbeat sends) that has no caller to return them to. It may be
// called from several goroutines at once.
func WithErrorHandler(fn func(error)) Option { return func(c *Client) { c.onError = fn } }

// New returns a Client for the API at baseURL (for example
// "https://rtt.example/api/rtt"). An empty baseURL means RTT_URL from the
// environment, or DefaultBaseURL when that is empty too. The token comes
// from RTT_TOKEN unless WithToken sets one.
func New(baseURL string, opts ...Option) *Client {
	if baseURL == "" {
		baseURL = os.Getenv("RTT_URL")
	}
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	c := &Client{
		base:     strings.TrimRight(baseURL, "/"),
		token:    os.Getenv("RTT_TOKEN"),
		hc:       http.DefaultClient,
		timeout:  DefaultTimeout,
		attempts: DefaultMaxAttempts,
		backoff:  DefaultBackoff,
		sleep:    sleepCtx,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL returns the API base URL the Client sends to, without a trailing
// slash.
func (c *Client) BaseURL() string { return c.base }

// answer is one HTTP answer, read completely.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// send makes one HTTP attempt. Its error is a transport error (retryable
// unless ctx is done); any HTTP answer, whatever its status, is returned.
func (c *Client) send(ctx context.Context, method, path, ctype string, body []byte) (*answer, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "rtt-go-client")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// retryableStatus reports whether an answer with this status may succeed
// when the same request is sent again.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// do sends a request, retrying transient failures, and returns the first 2xx
// answer. Any other final answer is an *APIError; a final transport failure
// is wrapped with the operation.
func (c *Client) do(ctx context.Context, method, path string, body []byte) (*answer, error) {
	var last error
	for attempt := 1; ; attempt++ {
		ans, err := c.send(ctx, method, path, "application/json", body)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, stopped(ctx.Err(), method, path, err)
			}
			last = fmt.Errorf("rtt: %s %s: %w", method, path, err)
		case ans.status >= 200 && ans.status < 300:
			return ans, nil
		default:
			apiErr := newAPIError(method, path, ans)
			if !retryableStatus(ans.status) {
				return nil, apiErr
			}
			last, wait = apiErr, apiErr.RetryAfter
		}
		if attempt >= c.attempts {
			return nil, last
		}
		if err := c.pause(ctx, attempt, wait); err != nil {
			return nil, stopped(err, method, path, last)
		}
	}
}

// stopped is the error of a call whose context ended (or would end before
// the next attempt): cause, the context's error, and the last failure, both
// matchable with errors.Is.
func stopped(cause error, method, path string, last error) error {
	if last == nil || errors.Is(last, cause) {
		return fmt.Errorf("rtt: %s %s: %w", method, path, cause)
	}
	return fmt.Errorf("rtt: %s %s: %w (last attempt: %w)", method, path, cause, last)
}

// pause waits before attempt+1: retryAfter when the server asked for a wait,
// else exponential backoff with jitter. It fails at once, without waiting,
// when ctx would end before the wait does.
func (c *Client) pause(ctx context.Context, attempt int, retryAfter time.Duration) error {
	d := retryAfter
	if d <= 0 {
		d = c.backoffFor(attempt)
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return context.DeadlineExceeded
	}
	return c.sleep(ctx, d)
}

// backoffFor is the wait after failed attempt n (1-based): base·2^(n-1),
// capped at MaxBackoff, of which a random half is jitter, so that clients
// that failed together do not retry together.
func (c *Client) backoffFor(n int) time.Duration {
	d := c.backoff
	for i := 1; i < n && d < MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, MaxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
// It returns 0 when the header is absent or unusable.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, 3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
