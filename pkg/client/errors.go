package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors an *APIError matches with errors.Is.
var (
	// ErrInvalid means the server rejected the payload as sent (400): it
	// will never be accepted unchanged. The APIError's Violations name the
	// fields and rules.
	ErrInvalid = errors.New("rtt: invalid payload")
	// ErrUnauthorized means the bearer token is missing or wrong (401, 403).
	ErrUnauthorized = errors.New("rtt: unauthorized")
	// ErrTooLarge means the request body exceeds the server's limit (413);
	// split the batch.
	ErrTooLarge = errors.New("rtt: payload too large")
	// ErrUnavailable means the server could not store the payload now (429,
	// 502, 503, 504, or batch items answered "unavailable") and the client
	// gave up after its attempts; sending again later may succeed.
	ErrUnavailable = errors.New("rtt: unavailable")
	// ErrNotImplemented means the server does not offer the endpoint yet
	// (501, or an error kind "not_available").
	ErrNotImplemented = errors.New("rtt: not implemented by the server")
)

// Violation is one rule a payload failed: Field is a dotted path into the
// payload ("structure.nav_count", "flows[2].path"), empty for the payload
// as a whole.
type Violation struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
}

// String is "field: rule", or the rule alone for the payload as a whole.
func (v Violation) String() string {
	if v.Field == "" {
		return v.Rule
	}
	return v.Field + ": " + v.Rule
}

// APIError is an error answer of the API, carrying the server's JSON error
// body ({"status":"error","error":KIND,"message":...,"violations":[...]}).
// It matches ErrInvalid, ErrUnauthorized, ErrTooLarge, ErrUnavailable or
// ErrNotImplemented with errors.Is, by status code and kind.
type APIError struct {
	// Method and Path are the request, Path relative to the base URL.
	Method, Path string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Kind is the server's error kind: "invalid", "too_large",
	// "unauthorized", "unavailable", "unsupported_media_type", "not_found",
	// "not_available" ...; empty when the answer had no rtt error body (for
	// example from a proxy).
	Kind string
	// Message is the server's message, or the start of a non-JSON body.
	Message string
	// Violations lists the failed rules of a 400 answer.
	Violations []Violation
	// RetryAfter is the wait the server asked for in Retry-After, 0 if none.
	RetryAfter time.Duration
}

// Error is "rtt: METHOD PATH: STATUS KIND: message".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("rtt: ")
	if e.Method != "" {
		b.WriteString(e.Method + " " + e.Path + ": ")
	}
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Kind != "" {
		b.WriteString(" " + e.Kind)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	} else if len(e.Violations) > 0 {
		parts := make([]string, len(e.Violations))
		for i, v := range e.Violations {
			parts[i] = v.String()
		}
		b.WriteString(": " + strings.Join(parts, "; "))
	}
	return b.String()
}

// Is reports whether the error is of the sentinel's class.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return e.StatusCode == http.StatusBadRequest
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrTooLarge:
		return e.StatusCode == http.StatusRequestEntityTooLarge
	case ErrUnavailable:
		return retryableStatus(e.StatusCode) || e.Kind == "unavailable"
	case ErrNotImplemented:
		return e.StatusCode == http.StatusNotImplemented || e.Kind == "not_available"
	}
	return false
}

// errorBody is the shape of the server's error answers.
type errorBody struct {
	Status     string      `json:"status"`
	Error      string      `json:"error"`
	Message    string      `json:"message"`
	Violations []Violation `json:"violations"`
}

// newAPIError turns a non-2xx answer into an *APIError.
func newAPIError(method, path string, a *answer) *APIError {
	e := &APIError{
		Method:     method,
		Path:       path,
		StatusCode: a.status,
		RetryAfter: parseRetryAfter(a.header, time.Now()),
	}
	var body errorBody
	if json.Unmarshal(a.body, &body) == nil && (body.Error != "" || body.Message != "") {
		e.Kind, e.Message, e.Violations = body.Error, body.Message, body.Violations
		return e
	}
	msg := strings.TrimSpace(string(a.body))
	if len(msg) > 256 {
		msg = msg[:256]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
		msg += "..."
	}
	if msg == "" {
		msg = http.StatusText(a.status)
	}
	e.Message = msg
	return e
}

// unavailableError is the error of a batch whose items stayed unavailable
// through every attempt.
func unavailableError(path string, n, total, attempts int, last string) *APIError {
	msg := fmt.Sprintf("%d of %d beacons not stored after %d attempts", n, total, attempts)
	if last != "" {
		msg += ": " + last
	}
	return &APIError{Method: http.MethodPost, Path: path, StatusCode: http.StatusServiceUnavailable, Kind: "unavailable", Message: msg}
}
