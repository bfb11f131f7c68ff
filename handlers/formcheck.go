package handlers

import (
	"mime"
	"net/http"
)

// formShapeError checks that a request looks like what a browser sends for
// our forms: an urlencoded or multipart body (or none), and each field at
// most once. Anything else comes from a script or an attack, and a clear
// 415 or 400 beats guessing which of two usernames was meant. It returns 0
// when the form is fine; the form must have been parsed already.
func formShapeError(r *http.Request) int {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data") {
			return http.StatusUnsupportedMediaType
		}
	} else if r.ContentLength > 0 {
		return http.StatusUnsupportedMediaType
	}
	for _, values := range r.Form {
		if len(values) > 1 {
			return http.StatusBadRequest
		}
	}
	return 0
}
