package ingest

import "net/http"

func (a *API) postDiagnostic(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotImplemented, "not_available", kind+" is being built", nil)
	}
}
