package ingest

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/coherence"
	"github.com/rtt-dev/rtt/pkg/corridor"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/otelx"
	"github.com/rtt-dev/rtt/pkg/schema"
	"github.com/rtt-dev/rtt/pkg/topology"
)

// DiagVersion is the version of the diagnostics answers' shape.
const DiagVersion = "vst-beta/1"

// DiagAnswer is the answer of /validate, /corridor and /topology: the same
// request always gives the same bytes.
type DiagAnswer struct {
	Status  string  `json:"status"`
	Version string  `json:"version"`
	Kind    string  `json:"kind"`
	Site    string  `json:"site,omitempty"`
	Score   float64 `json:"score"`
	Result  any     `json:"result"`
}

// corridorResult is the result of a corridor alignment request.
type corridorResult struct {
	Corridors []string             `json:"corridors"`
	Source    string               `json:"source"` // "request", "profile" or "none"
	Aligned   int                  `json:"aligned"`
	Flows     []corridor.Alignment `json:"flows"`
}

// postDiagnostic validates a diagnostics request, computes its result,
// stores request and result in JetStream (rtt.diag.<kind>.<site>) and
// answers once stored.
func (a *API) postDiagnostic(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, ok := a.readBody(w, r, a.cfg.MaxBodyBytes, false)
		if !ok {
			return
		}
		doc, err := beacon.DecodeJSON(raw)
		if err == nil {
			err = a.schemas.Validate(kind, doc)
		}
		if err != nil {
			a.rejectSchema(w, err)
			return
		}
		var site struct {
			Site string `json:"site"`
		}
		_ = json.Unmarshal(raw, &site)
		ans := DiagAnswer{Status: "ok", Version: DiagVersion, Kind: kind, Site: site.Site}
		switch kind {
		case schema.KindValidate:
			var in coherence.Input
			if err := json.Unmarshal(raw, &in); err != nil {
				a.rejectSchema(w, err)
				return
			}
			if err := coherence.ValidateInput(in); err != nil {
				a.rejectField(w, err)
				return
			}
			res := coherence.Validate(in)
			ans.Score, ans.Result = res.Score, res
		case schema.KindTopology:
			var in struct {
				Graph map[string][]string `json:"graph"`
			}
			if err := json.Unmarshal(raw, &in); err != nil {
				a.rejectSchema(w, err)
				return
			}
			if err := topology.ValidateGraph(in.Graph); err != nil {
				a.rejectField(w, err)
				return
			}
			ans.Result = topology.Decompose(in.Graph)
			ans.Score = 1
		case schema.KindCorridor:
			res, err := a.alignRequest(r, raw, site.Site)
			if err != nil {
				if errors.Is(err, errUnavailable) {
					writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error(), nil)
				} else {
					a.rejectField(w, err)
				}
				return
			}
			ans.Result = res
			if len(res.Flows) > 0 {
				ans.Score = float64(res.Aligned) / float64(len(res.Flows))
			}
		}
		result, _ := json.Marshal(ans)
		stored, _ := json.Marshal(struct {
			Kind    string          `json:"kind"`
			Site    string          `json:"site"`
			Status  string          `json:"status"`
			Score   float64         `json:"score"`
			Request json.RawMessage `json:"request"`
			Result  json.RawMessage `json:"result"`
		}{kind, site.Site, ans.Status, ans.Score, compact(raw), result})
		m := nats.NewMsg("rtt.diag." + kind + "." + beacon.Token(site.Site))
		m.Data = stored
		id := contentID("g-", []byte(kind), compact(raw))
		m.Header.Set(nats.MsgIdHdr, id)
		m.Header.Set(natsx.HeaderEventID, id)
		m.Header.Set(natsx.HeaderReceivedAt, a.now().Format(time.RFC3339Nano))
		otelx.Inject(r.Context(), m.Header)
		if res := a.pub.Publish(r.Context(), []*nats.Msg{m})[0]; res.Err != nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", kind+" not stored, retry: "+res.Err.Error(), nil)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(append(result, '\n'))
	}
}

var errUnavailable = errors.New("profile store unavailable")

// alignRequest aligns the request's flows with the corridors it gives, or
// else with those of its site's profile.
func (a *API) alignRequest(r *http.Request, raw []byte, site string) (corridorResult, error) {
	var in struct {
		Flows     []corridor.Flow     `json:"flows"`
		Corridors []corridor.Corridor `json:"corridors"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return corridorResult{}, err
	}
	res := corridorResult{Source: "request", Corridors: []string{}, Flows: make([]corridor.Alignment, 0, len(in.Flows))}
	cs := in.Corridors
	if len(cs) == 0 {
		res.Source = "none"
		if site != "" {
			entry, err := a.profiles.Get(r.Context(), ProfileKey(site))
			if err == nil {
				var p struct {
					Corridors []corridor.Corridor `json:"corridors"`
				}
				if json.Unmarshal(entry.Value(), &p) == nil && len(p.Corridors) > 0 {
					cs, res.Source = p.Corridors, "profile"
				}
			} else if !isNotFound(err) {
				return res, errors.Join(errUnavailable, err)
			}
		}
	}
	if err := corridor.ValidateCorridors(cs); err != nil {
		return res, err
	}
	for _, c := range cs {
		res.Corridors = append(res.Corridors, c.Name)
	}
	for i, f := range in.Flows {
		if err := corridor.ValidateFlow(f); err != nil {
			var fe *corridor.FieldError
			if errors.As(err, &fe) {
				fe.Field = "flows[" + itoa(i) + "]." + fe.Field
			}
			return res, err
		}
		al := corridor.Align(cs, f)
		if al.OnCorridor {
			res.Aligned++
		}
		res.Flows = append(res.Flows, al)
	}
	return res, nil
}

// rejectField answers 400 for an error of a diagnostics package that names
// its field.
func (a *API) rejectField(w http.ResponseWriter, err error) {
	field, rule := "", err.Error()
	var ce *coherence.FieldError
	var te *topology.FieldError
	var re *corridor.FieldError
	switch {
	case errors.As(err, &ce):
		field, rule = ce.Field, ce.Reason
	case errors.As(err, &te):
		field, rule = te.Field, te.Reason
	case errors.As(err, &re):
		field, rule = re.Field, re.Reason
	}
	writeError(w, http.StatusBadRequest, "invalid", err.Error(), []schema.Violation{{Field: field, Rule: rule}})
}
