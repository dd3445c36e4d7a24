package ingest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/otelx"
	"github.com/rtt-dev/rtt/pkg/schema"
)

// ProfileKey is the profiles bucket's key of site: its base64url form, since
// site names may hold characters a key may not.
func ProfileKey(site string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(site))
}

// profileAnswer is the answer to GET /profile/{site}.
type profileAnswer struct {
	Site    string          `json:"site"`
	Profile json.RawMessage `json:"profile"`
}

func siteParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	site := r.PathValue("site")
	if site == "" || len(site) > 128 {
		writeError(w, http.StatusBadRequest, "invalid", "site: must be 1 to 128 characters",
			[]schema.Violation{{Field: "site", Rule: "must be 1 to 128 characters"}})
		return "", false
	}
	return site, true
}

func (a *API) getProfile(w http.ResponseWriter, r *http.Request) {
	site, ok := siteParam(w, r)
	if !ok {
		return
	}
	entry, err := a.profiles.Get(r.Context(), ProfileKey(site))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		writeJSON(w, http.StatusOK, profileAnswer{Site: site, Profile: json.RawMessage("null")})
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "unavailable", "reading profile: "+err.Error(), nil)
	default:
		writeJSON(w, http.StatusOK, profileAnswer{Site: site, Profile: entry.Value()})
	}
}

// postProfile records a profile: first in the stream (its history, which
// the sink writes to ClickHouse), then as the site's current profile in the
// bucket. It answers ok only when both hold it.
func (a *API) postProfile(w http.ResponseWriter, r *http.Request) {
	site, ok := siteParam(w, r)
	if !ok {
		return
	}
	raw, ok := a.readBody(w, r, a.cfg.MaxBodyBytes, false)
	if !ok {
		return
	}
	doc, err := beacon.DecodeJSON(raw)
	if err == nil {
		err = a.schemas.Validate(schema.KindProfile, doc)
	}
	if err != nil {
		a.rejectSchema(w, err)
		return
	}
	body := compact(raw)
	m := nats.NewMsg("rtt.profile." + beacon.Token(site))
	m.Data = body
	id := contentID("p-", []byte(site), body)
	m.Header.Set(nats.MsgIdHdr, id)
	m.Header.Set(natsx.HeaderEventID, id)
	m.Header.Set(natsx.HeaderSite, site)
	m.Header.Set(natsx.HeaderReceivedAt, a.now().Format(time.RFC3339Nano))
	otelx.Inject(r.Context(), m.Header)
	if res := a.pub.Publish(r.Context(), []*nats.Msg{m})[0]; res.Err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "profile not stored, retry: "+res.Err.Error(), nil)
		return
	}
	if _, err := a.profiles.Put(r.Context(), ProfileKey(site), body); err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "profile not stored, retry: "+err.Error(), nil)
		return
	}
	a.log.Info().Str("site", site).Str("event_id", id).Msg("profile registered")
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "site": site, "event_id": id})
}

// rejectSchema answers 400 for a payload that failed its schema or did not
// parse.
func (a *API) rejectSchema(w http.ResponseWriter, err error) {
	var se *schema.Error
	var ie *beacon.InvalidError
	switch {
	case errors.As(err, &se):
		writeError(w, http.StatusBadRequest, "invalid", err.Error(), se.Violations)
	case errors.As(err, &ie):
		writeError(w, http.StatusBadRequest, "invalid", err.Error(), ie.Violations)
	default:
		writeError(w, http.StatusBadRequest, "invalid", err.Error(), nil)
	}
}

func isNotFound(err error) bool { return errors.Is(err, jetstream.ErrKeyNotFound) }

func itoa(i int) string { return strconv.Itoa(i) }
