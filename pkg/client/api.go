package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// BeaconResult is the server's answer to one stored beacon.
type BeaconResult struct {
	// EventID is the beacon's event id, given or derived.
	EventID string `json:"event_id"`
	// Duplicate is true when the server already held this event id: a
	// re-send, stored once.
	Duplicate bool `json:"duplicate"`
	// Seq is the beacon's sequence in the server's stream.
	Seq uint64 `json:"seq"`
}

// Beacon sends one beacon (POST /beacon) and returns once the server has
// stored it. A zero b.TS becomes now and an empty b.EventID is derived
// before the first attempt, so retries can never store it twice. A 400
// answer is an *APIError matching ErrInvalid whose Violations name the
// fields.
func (c *Client) Beacon(ctx context.Context, b Beacon) (BeaconResult, error) {
	b, raw, err := prepare(b, time.Now())
	if err != nil {
		return BeaconResult{}, err
	}
	ans, err := c.do(ctx, http.MethodPost, "/beacon", raw)
	if err != nil {
		return BeaconResult{EventID: b.EventID}, err
	}
	res := BeaconResult{EventID: b.EventID}
	if err := json.Unmarshal(ans.body, &res); err != nil {
		return res, fmt.Errorf("rtt: POST /beacon: decoding the answer: %w", err)
	}
	if res.EventID == "" {
		res.EventID = b.EventID
	}
	return res, nil
}

// Item statuses of a BatchResult.
const (
	// StatusOK: stored (or already held: Duplicate).
	StatusOK = "ok"
	// StatusInvalid: rejected as sent; never retried.
	StatusInvalid = "invalid"
	// StatusUnavailable: not stored, still unavailable after every attempt.
	StatusUnavailable = "unavailable"
	// StatusFailed: not stored because the request as a whole failed; the
	// error returned by Beacons says why.
	StatusFailed = "failed"
)

// ItemResult is the outcome of one beacon of a batch.
type ItemResult struct {
	// Index is the beacon's position in the slice given to Beacons.
	Index int `json:"index"`
	// Status is StatusOK, StatusInvalid, StatusUnavailable or StatusFailed.
	Status    string `json:"status"`
	EventID   string `json:"event_id,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	// Error is the server's reason for a status other than ok.
	Error      string      `json:"error,omitempty"`
	Violations []Violation `json:"violations,omitempty"`
}

// Err returns nil for a stored item, else an *APIError describing why it was
// not stored (matching ErrInvalid or ErrUnavailable).
func (r ItemResult) Err() error {
	switch r.Status {
	case StatusOK:
		return nil
	case StatusInvalid:
		return &APIError{Method: http.MethodPost, Path: "/beacons", StatusCode: http.StatusBadRequest, Kind: "invalid", Message: r.Error, Violations: r.Violations}
	case StatusUnavailable:
		return &APIError{Method: http.MethodPost, Path: "/beacons", StatusCode: http.StatusServiceUnavailable, Kind: "unavailable", Message: r.Error}
	}
	return &APIError{Method: http.MethodPost, Path: "/beacons", Kind: r.Status, Message: r.Error}
}

// BatchResult is the outcome of Beacons: one ItemResult per beacon, in the
// order given, and the counts of each status.
type BatchResult struct {
	Accepted    int `json:"accepted"`
	Duplicates  int `json:"duplicates"`
	Rejected    int `json:"rejected"`
	Unavailable int `json:"unavailable"`
	Failed      int `json:"failed"`
	// Attempts is how many POSTs the batch took.
	Attempts int          `json:"attempts"`
	Results  []ItemResult `json:"results"`
}

// batchAnswer is the server's answer to POST /beacons.
type batchAnswer struct {
	Status  string       `json:"status"`
	Results []ItemResult `json:"results"`
}

// Beacons sends many beacons in one POST /beacons (a JSON array) and maps
// the server's per-item answers back onto bs. Zero TS and empty EventID are
// filled before the first attempt, as in Beacon. When the server answers
// some items "unavailable" (207 or 503), only those are sent again, with
// the usual backoff; items answered "invalid" are final.
//
// The error is nil when every item got a final answer, stored or invalid:
// check Rejected and each ItemResult. It is an *APIError matching
// ErrUnavailable when items were still unavailable after the last attempt,
// and the request's own error (413 too large, 401, a transport failure ...)
// when the request as a whole failed; the BatchResult then says which items
// were stored before it did.
func (c *Client) Beacons(ctx context.Context, bs []Beacon) (BatchResult, error) {
	const path = "/beacons"
	res := BatchResult{Results: make([]ItemResult, len(bs))}
	if len(bs) == 0 {
		return res, nil
	}
	raws := make([][]byte, len(bs))
	now := time.Now()
	for i := range bs {
		b, raw, err := prepare(bs[i], now)
		if err != nil {
			return res, fmt.Errorf("beacon %d: %w", i, err)
		}
		raws[i] = raw
		res.Results[i] = ItemResult{Index: i, EventID: b.EventID}
	}
	pending := make([]int, len(bs))
	for i := range pending {
		pending[i] = i
	}
	var last error
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		ans, err := c.send(ctx, http.MethodPost, path, "application/json", arrayOf(raws, pending))
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return res.fail(pending, stopped(ctx.Err(), http.MethodPost, path, err))
			}
			last = fmt.Errorf("rtt: POST %s: %w", path, err)
		default:
			var ba batchAnswer
			perItem := json.Unmarshal(ans.body, &ba) == nil && ba.Results != nil &&
				(ans.status < 300 || ans.status == http.StatusBadRequest || retryableStatus(ans.status))
			if !perItem {
				if ans.status >= 200 && ans.status < 300 {
					return res.fail(pending, fmt.Errorf("rtt: POST %s: answer %d without per-item results", path, ans.status))
				}
				apiErr := newAPIError(http.MethodPost, path, ans)
				if !retryableStatus(ans.status) {
					return res.fail(pending, apiErr)
				}
				last, wait = apiErr, apiErr.RetryAfter
				break
			}
			if len(ba.Results) != len(pending) {
				return res.fail(pending, fmt.Errorf("rtt: POST %s: answer has %d results for %d items", path, len(ba.Results), len(pending)))
			}
			var again []int
			var reason string
			for j, it := range ba.Results {
				i := pending[j]
				it.Index = i
				if it.EventID == "" {
					it.EventID = res.Results[i].EventID
				}
				res.Results[i] = it
				if it.Status == StatusUnavailable {
					again = append(again, i)
					reason = it.Error
				}
			}
			pending = again
			if len(pending) == 0 {
				res.count()
				return res, nil
			}
			last = unavailableError(path, len(pending), len(bs), attempt, reason)
			wait = parseRetryAfter(ans.header, time.Now())
		}
		if attempt >= c.attempts {
			return res.fail(pending, last)
		}
		if err := c.pause(ctx, attempt, wait); err != nil {
			return res.fail(pending, stopped(err, http.MethodPost, path, last))
		}
	}
}

// fail marks the pending items as not stored and returns the final result.
// Items still unavailable keep that status; items never answered get
// StatusUnavailable when the failure was transient, else StatusFailed.
func (r BatchResult) fail(pending []int, err error) (BatchResult, error) {
	status := StatusFailed
	if isTransient(err) {
		status = StatusUnavailable
	}
	for _, i := range pending {
		it := &r.Results[i]
		if it.Status != StatusUnavailable {
			it.Status = status
			it.Error = err.Error()
		}
	}
	r.count()
	return r, err
}

// isTransient reports whether a failure may pass if the same request is
// sent later: an unavailable answer or a transport error, not a refusal.
func isTransient(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Is(ErrUnavailable)
	}
	return true
}

func (r *BatchResult) count() {
	r.Accepted, r.Duplicates, r.Rejected, r.Unavailable, r.Failed = 0, 0, 0, 0, 0
	for _, it := range r.Results {
		switch it.Status {
		case StatusOK:
			r.Accepted++
			if it.Duplicate {
				r.Duplicates++
			}
		case StatusInvalid:
			r.Rejected++
		case StatusUnavailable:
			r.Unavailable++
		default:
			r.Failed++
		}
	}
}

// arrayOf joins the encoded items at idx into one JSON array.
func arrayOf(raws [][]byte, idx []int) []byte {
	n := 2
	for _, i := range idx {
		n += len(raws[i]) + 1
	}
	buf := bytes.NewBuffer(make([]byte, 0, n))
	buf.WriteByte('[')
	for k, i := range idx {
		if k > 0 {
			buf.WriteByte(',')
		}
		buf.Write(raws[i])
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// profileAnswer is the answer to GET /profile/{site}.
type profileAnswer struct {
	Site    string          `json:"site"`
	Profile json.RawMessage `json:"profile"`
}

// GetProfile returns the current profile of site (GET /profile/{site}) as
// the server holds it, or nil when the site has none.
func (c *Client) GetProfile(ctx context.Context, site string) (json.RawMessage, error) {
	path := "/profile/" + url.PathEscape(site)
	ans, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	var pa profileAnswer
	if err := json.Unmarshal(ans.body, &pa); err != nil {
		return nil, fmt.Errorf("rtt: GET %s: decoding the answer: %w", path, err)
	}
	if len(pa.Profile) == 0 || string(pa.Profile) == "null" {
		return nil, nil
	}
	return pa.Profile, nil
}

// SetProfile registers profile as the site's current profile (POST
// /profile/{site}), for example {"rtt_version":"1.0","supports":["drift"],
// "contact":"infra@example.org","corridors":[...]}. profile is encoded with
// encoding/json; a json.RawMessage is sent as is. Registering the same
// profile again is harmless, so it is retried like a beacon.
func (c *Client) SetProfile(ctx context.Context, site string, profile any) error {
	raw, err := encode(profile)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodPost, "/profile/"+url.PathEscape(site), raw)
	return err
}

// Validate submits a coherence validation request (POST /validate,
// {system_map, flows, constraints}) and returns the server's result as
// sent.
func (c *Client) Validate(ctx context.Context, payload any) (json.RawMessage, error) {
	return c.diagnostic(ctx, "/validate", payload)
}

// Corridor submits a corridor alignment request (POST /corridor,
// {flows:[{path, latency_ms}]}) and returns the server's result as sent.
func (c *Client) Corridor(ctx context.Context, payload any) (json.RawMessage, error) {
	return c.diagnostic(ctx, "/corridor", payload)
}

// Topology submits a topology decomposition request (POST /topology,
// {graph:{node:[deps...]}}) and returns the server's result as sent.
func (c *Client) Topology(ctx context.Context, payload any) (json.RawMessage, error) {
	return c.diagnostic(ctx, "/topology", payload)
}

func (c *Client) diagnostic(ctx context.Context, path string, payload any) (json.RawMessage, error) {
	raw, err := encode(payload)
	if err != nil {
		return nil, err
	}
	ans, err := c.do(ctx, http.MethodPost, path, raw)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(bytes.TrimSpace(ans.body)), nil
}

func encode(v any) ([]byte, error) {
	switch p := v.(type) {
	case json.RawMessage:
		return p, nil
	case []byte:
		return p, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("rtt: encoding payload: %w", err)
	}
	return raw, nil
}
