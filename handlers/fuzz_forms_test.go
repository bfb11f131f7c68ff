package handlers_test

// FuzzForms is outside package handlers so that it can use internal/apptest
// (which imports handlers). `go test -fuzz=FuzzForms ./handlers` explores.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"gatehouse/internal/apptest"
)

// FuzzForms sends anything to the form routes through the whole stack
// (middleware, sessions, Gin, handlers, a real SQLite file): the answer is
// one of the statuses product.md allows, never a 5xx, its body valid UTF-8,
// and nothing is written unless the answer says an account was created.
func FuzzForms(f *testing.F) {
	srv := apptest.New(f, apptest.Options{DiscardLogs: true})
	h, store := srv.App.Handler(), srv.Store
	paths := []string{"/signup", "/signin", "/signup/validate/username", "/signup/validate/email",
		"/signup/validate/password", "/signup/validate/password_confirm", "/signout", "/signup/validate/x"}
	types := []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "application/json", "", "text/plain; charset=utf-8"}

	f.Add(uint8(0), uint8(0), false, "username=fuzzer&email=fuzzer%40example.com&password=a+long+secret&password_confirm=a+long+secret")
	f.Add(uint8(1), uint8(0), false, "username=fuzzer&password=wrong&next=%2F%2Fevil.example")
	f.Add(uint8(1), uint8(0), true, "username=fuzzer&password=a+long+secret&remember=on&next=%2Fdashboard")
	f.Add(uint8(2), uint8(0), true, "username=a%00b")
	f.Add(uint8(3), uint8(0), true, "email=%ff%fe@x")
	f.Add(uint8(4), uint8(0), true, "password=password&username=password")
	f.Add(uint8(5), uint8(0), true, "password=a&password_confirm=b")
	f.Add(uint8(6), uint8(0), false, "")
	f.Add(uint8(7), uint8(0), false, "x=1")
	f.Add(uint8(0), uint8(1), false, "--b\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nx\r\n--b--\r\n")
	f.Add(uint8(1), uint8(2), false, `{"username":"fuzzer"}`)
	f.Add(uint8(1), uint8(3), false, "username=fuzzer&password=x")
	f.Add(uint8(0), uint8(0), false, "username=a&username=b")
	f.Add(uint8(1), uint8(0), false, "username=%zz")
	f.Add(uint8(1), uint8(4), true, "username=x;password=y")

	allowed := map[int]bool{200: true, 303: true, 400: true, 401: true, 404: true, 413: true, 415: true, 422: true, 429: true}
	f.Fuzz(func(t *testing.T, path, ctype uint8, htmx bool, body string) {
		p := paths[int(path)%len(paths)]
		req := httptest.NewRequest(http.MethodPost, p, strings.NewReader(body))
		if ct := types[int(ctype)%len(types)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if htmx {
			req.Header.Set("HX-Request", "true")
		}
		before, err := store.CountUsers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("POST %s %q: status %d; body:\n%.1000s", p, body, rec.Code, rec.Body.String())
		}
		if !utf8.Valid(rec.Body.Bytes()) {
			t.Fatalf("POST %s %q: body is not valid UTF-8", p, body)
		}
		after, err := store.CountUsers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		created := p == "/signup" && (rec.Code == 303 || rec.Header().Get("HX-Redirect") == "/dashboard")
		if after != before && !(created && after == before+1) {
			t.Fatalf("POST %s %q: answered %d but users went from %d to %d", p, body, rec.Code, before, after)
		}
	})
}
