package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtt-dev/rtt/pkg/batch"
	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/otelx"
	"github.com/rtt-dev/rtt/pkg/schema"
)

// BasePath is where the API lives, as in the public RTT API.
const BasePath = "/api/rtt"

// API serves the HTTP endpoints under BasePath.
type API struct {
	cfg      Config
	log      zerolog.Logger
	pub      Publisher
	profiles jetstream.KeyValue
	schemas  *schema.Set
	decoder  *beacon.Decoder
	m        *metrics
	tracer   trace.Tracer
	now      func() time.Time
	// maxPayload is the NATS server's largest message; 0 means 1 MiB.
	maxPayload int
}

// Handler returns the API's routes, with bearer-token checking when a token
// is configured.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+BasePath+"/beacon", a.postBeacon)
	mux.HandleFunc("POST "+BasePath+"/beacons", a.postBeacons)
	mux.HandleFunc("GET "+BasePath+"/profile/{site}", a.getProfile)
	mux.HandleFunc("POST "+BasePath+"/profile/{site}", a.postProfile)
	mux.HandleFunc("POST "+BasePath+"/validate", a.postDiagnostic(schema.KindValidate))
	mux.HandleFunc("POST "+BasePath+"/corridor", a.postDiagnostic(schema.KindCorridor))
	mux.HandleFunc("POST "+BasePath+"/topology", a.postDiagnostic(schema.KindTopology))
	mux.HandleFunc(BasePath+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no endpoint "+r.Method+" "+r.URL.Path, nil)
	})
	var h http.Handler = mux
	if a.cfg.Token != "" {
		h = a.requireToken(h)
	}
	return a.traced(h)
}

// traced starts the request's server span, continuing the caller's trace
// when it sent a traceparent header. Handlers add rtt.* attributes and the
// span's context travels into the published messages' headers.
func (a *API) traced(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := otelx.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := a.tracer.Start(ctx, r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (a *API) requireToken(next http.Handler) http.Handler {
	want := []byte("Bearer " + a.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			a.m.rejected.WithLabelValues("unauthorized").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="rtt"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "send the header Authorization: Bearer <token>", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// errorBody is every error answer's shape.
type errorBody struct {
	Status     string             `json:"status"`
	Error      string             `json:"error"`
	Message    string             `json:"message"`
	Violations []schema.Violation `json:"violations,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, kind, msg string, vs []schema.Violation) {
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, code, errorBody{Status: "error", Error: kind, Message: msg, Violations: vs})
}

// readBody checks the content type and reads at most limit bytes. On failure
// it has answered and returns ok=false.
func (a *API) readBody(w http.ResponseWriter, r *http.Request, limit int64, ndjson bool) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		okType := err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json") ||
			(ndjson && (mt == "application/x-ndjson" || mt == "application/ndjson" || mt == "application/jsonlines")))
		if !okType {
			a.m.rejected.WithLabelValues("unsupported_media_type").Inc()
			want := "application/json"
			if ndjson {
				want += " or application/x-ndjson"
			}
			writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
				"Content-Type "+strconv.Quote(ct)+" is not accepted; send "+want, nil)
			return nil, false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.m.rejected.WithLabelValues("too_large").Inc()
			writeError(w, http.StatusRequestEntityTooLarge, "too_large",
				"request body exceeds "+strconv.FormatInt(limit, 10)+" bytes; split it into smaller batches", nil)
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "bad_request", "reading body: "+err.Error(), nil)
		return nil, false
	}
	return body, true
}

// beaconMsg builds the JetStream message of an accepted beacon: the payload
// exactly as the client sent it, the event id as Nats-Msg-Id.
func (a *API) beaconMsg(ctx context.Context, b *beacon.Beacon, raw []byte, received time.Time) *nats.Msg {
	m := nats.NewMsg(b.Subject())
	m.Data = raw
	m.Header.Set(nats.MsgIdHdr, b.EventID)
	m.Header.Set(natsx.HeaderEventID, b.EventID)
	m.Header.Set(natsx.HeaderReceivedAt, received.Format(time.RFC3339Nano))
	otelx.Inject(ctx, m.Header)
	return m
}

func (a *API) cluster(b *beacon.Beacon) string {
	if c := b.Labels["cluster"]; c != "" {
		return a.m.clusters.Value(c)
	}
	return a.m.clusters.Value(b.Site)
}

// beaconAnswer is the answer to POST /beacon.
type beaconAnswer struct {
	Status    string `json:"status"`
	EventID   string `json:"event_id"`
	Duplicate bool   `json:"duplicate"`
	Seq       uint64 `json:"seq"`
}

func (a *API) postBeacon(w http.ResponseWriter, r *http.Request) {
	raw, ok := a.readBody(w, r, a.cfg.MaxBodyBytes, false)
	if !ok {
		return
	}
	b, err := a.decoder.Decode(raw)
	if err != nil {
		a.rejectInvalid(w, err)
		return
	}
	trace.SpanFromContext(r.Context()).SetAttributes(
		attribute.String("rtt.site", b.Site), attribute.String("rtt.event", b.Event), attribute.String("rtt.event_id", b.EventID))
	received := a.now()
	start := time.Now()
	res := a.pub.Publish(r.Context(), []*nats.Msg{a.beaconMsg(r.Context(), b, compact(raw), received)})[0]
	a.m.publish.Observe(time.Since(start).Seconds())
	if res.Err != nil {
		a.m.rejected.WithLabelValues("unavailable").Inc()
		a.log.Warn().Err(res.Err).Str("event_id", b.EventID).Msg("beacon not stored")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "beacon not stored, retry with the same event_id: "+res.Err.Error(), nil)
		return
	}
	a.accepted(b, res)
	writeJSON(w, http.StatusOK, beaconAnswer{Status: "ok", EventID: b.EventID, Duplicate: res.Duplicate, Seq: res.Seq})
}

func (a *API) accepted(b *beacon.Beacon, res PubResult) {
	if res.Duplicate {
		a.m.duplicates.Inc()
	} else {
		a.m.beacons.WithLabelValues(a.cluster(b)).Inc()
	}
	a.log.Debug().Str("site", b.Site).Str("event", b.Event).Str("event_id", b.EventID).
		Bool("duplicate", res.Duplicate).Msg("beacon accepted")
}

func (a *API) rejectInvalid(w http.ResponseWriter, err error) {
	var ie *beacon.InvalidError
	if errors.As(err, &ie) {
		a.m.rejected.WithLabelValues("invalid").Inc()
		a.log.Debug().Err(err).Msg("beacon rejected")
		writeError(w, http.StatusBadRequest, "invalid", err.Error(), ie.Violations)
		return
	}
	writeError(w, http.StatusInternalServerError, "internal", err.Error(), nil)
}

// ItemResult is one item's outcome in a batch answer. Status is "ok",
// "invalid" (never retry as is) or "unavailable" (retry: not stored).
type ItemResult struct {
	Index      int                `json:"index"`
	Status     string             `json:"status"`
	EventID    string             `json:"event_id,omitempty"`
	Duplicate  bool               `json:"duplicate,omitempty"`
	Error      string             `json:"error,omitempty"`
	Violations []schema.Violation `json:"violations,omitempty"`
}

// BatchAnswer is the answer to POST /beacons. Status is "ok" when every
// item was stored, "partial" when some were, "error" when none were.
type BatchAnswer struct {
	Status      string       `json:"status"`
	Accepted    int          `json:"accepted"`
	Duplicates  int          `json:"duplicates"`
	Rejected    int          `json:"rejected"`
	Unavailable int          `json:"unavailable"`
	Results     []ItemResult `json:"results"`
}

// postBeacons stores a batch. The answer is 200 when every item was stored,
// 207 when some were (each item says why not), 400 when all were invalid,
// 503 when JetStream stored none of the valid ones.
func (a *API) postBeacons(w http.ResponseWriter, r *http.Request) {
	body, ok := a.readBody(w, r, a.cfg.MaxBatchBytes, true)
	if !ok {
		return
	}
	items, err := beacon.Split(body, a.cfg.MaxBatchItems)
	if err != nil {
		a.rejectInvalid(w, err)
		return
	}
	a.m.batchSize.Observe(float64(len(items)))
	trace.SpanFromContext(r.Context()).SetAttributes(attribute.Int("rtt.batch.items", len(items)))
	ans := BatchAnswer{Results: make([]ItemResult, len(items))}
	received := a.now()
	// The valid items travel together: one message per chunk of at most
	// batch.MaxItems beacons and maxMsgBytes bytes.
	var (
		msgs    []*nats.Msg
		members [][]int // the items of each message, by index
		decoded = make([]*beacon.Beacon, len(items))
		cur     batch.Builder
		curIdx  []int
		first   = make(map[string]int, len(items)) // event id to the item that carries it
		repeats [][2]int                           // an item and the earlier one with its event id
	)
	seal := func() {
		if cur.Len() == 0 {
			return
		}
		m := cur.Msg()
		m.Header.Set(natsx.HeaderReceivedAt, received.Format(time.RFC3339Nano))
		otelx.Inject(r.Context(), m.Header)
		msgs, members = append(msgs, m), append(members, curIdx)
		cur, curIdx = batch.Builder{}, nil
	}
	for i, raw := range items {
		ans.Results[i].Index = i
		b, err := a.decoder.Decode(raw)
		if err != nil {
			var ie *beacon.InvalidError
			errors.As(err, &ie)
			ans.Results[i].Status = "invalid"
			ans.Results[i].Error = err.Error()
			if ie != nil {
				ans.Results[i].Violations = ie.Violations
			}
			ans.Rejected++
			a.m.rejected.WithLabelValues("invalid").Inc()
			continue
		}
		ans.Results[i].EventID = b.EventID
		decoded[i] = b
		if j, ok := first[b.EventID]; ok {
			// Stored once: it shares the outcome of the earlier item.
			repeats = append(repeats, [2]int{i, j})
			continue
		}
		first[b.EventID] = i
		payload := compact(raw)
		if cur.Len() > 0 && (cur.Len() == batch.MaxItems || cur.Size()+len(payload)+len(b.EventID)+2 > a.maxMsgBytes()) {
			seal()
		}
		cur.Add(b.EventID, beacon.Token(b.Site), payload)
		curIdx = append(curIdx, i)
	}
	seal()
	if len(msgs) > 0 {
		start := time.Now()
		results := a.pub.Publish(r.Context(), msgs)
		a.m.publish.Observe(time.Since(start).Seconds())
		for j, res := range results {
			for _, i := range members[j] {
				it := &ans.Results[i]
				if res.Err != nil {
					it.Status = "unavailable"
					it.Error = "not stored, retry with the same event_id: " + res.Err.Error()
					ans.Unavailable++
					a.m.rejected.WithLabelValues("unavailable").Inc()
					continue
				}
				it.Status = "ok"
				it.Duplicate = res.Duplicate
				ans.Accepted++
				if res.Duplicate {
					ans.Duplicates++
				}
				a.accepted(decoded[i], res)
			}
		}
		for _, r := range repeats {
			it, orig := &ans.Results[r[0]], ans.Results[r[1]]
			it.Status, it.Error = orig.Status, orig.Error
			if orig.Status != "ok" {
				ans.Unavailable++
				a.m.rejected.WithLabelValues("unavailable").Inc()
				continue
			}
			it.Duplicate = true
			ans.Accepted++
			ans.Duplicates++
			a.accepted(decoded[r[0]], PubResult{Duplicate: true})
		}
	}
	code := http.StatusOK
	switch {
	case ans.Accepted == len(items):
		ans.Status = "ok"
	case ans.Accepted > 0:
		ans.Status, code = "partial", http.StatusMultiStatus
	case ans.Unavailable > 0:
		ans.Status, code = "error", http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	default:
		ans.Status, code = "error", http.StatusBadRequest
	}
	if ans.Unavailable > 0 {
		a.log.Warn().Int("unavailable", ans.Unavailable).Int("accepted", ans.Accepted).Msg("batch partly not stored")
	}
	writeJSON(w, code, ans)
}

// maxMsgBytes is the largest batch message ingest builds: what the NATS
// server accepts, less room for the other headers.
func (a *API) maxMsgBytes() int {
	if a.maxPayload <= 0 {
		return 1 << 20
	}
	return max(a.maxPayload-16<<10, 64<<10)
}

// compact removes insignificant whitespace so the stream and ClickHouse keep
// the payload without padding, and so a batch message can hold it as one
// line. A payload that already validated compacts; one without whitespace
// outside its strings is compact already.
func compact(raw []byte) []byte {
	if !padded(raw) {
		return raw
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

// padded reports whether valid JSON raw has whitespace outside its strings.
func padded(raw []byte) bool {
	inString := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return true
		}
	}
	return false
}

// contentID derives a stable id for a non-beacon submission.
func contentID(prefix string, parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	return prefix + hex.EncodeToString(h.Sum(nil)[:16])
}
