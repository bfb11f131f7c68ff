package handlers_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"gatehouse/handlers"
	"gatehouse/internal/apptest"
	"gatehouse/password"
)

// These benchmarks call the full stack (App.Handler(), exactly what the
// server runs) in-process, without the network, so a CPU profile shows
// Gatehouse's own per-request costs:
//
//	go test -run '^$' -bench . -cpuprofile cpu.out ./handlers
//	go tool pprof -top handlers.test cpu.out
//
// go run ./bench measures the same paths over HTTP against a baseline.

// benchServer starts Gatehouse with its log going to a text handler that
// discards, so the request log line is formatted as in production but the
// benchmark's memory does not grow with it.
func benchServer(b *testing.B, params *password.Params) (*apptest.Server, http.Handler) {
	b.Helper()
	srv := apptest.Start(b, apptest.Options{
		Params: params,
		Configure: func(c *handlers.Config) {
			c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		},
	})
	return srv, srv.App.Handler()
}

// signedInCookie signs a new account up through the real form and returns
// its session cookie.
func signedInCookie(b *testing.B, srv *apptest.Server, username string) string {
	b.Helper()
	c := srv.NewClient(b)
	c.Signup(username, username+"@example.com", "a long bench passphrase 42")
	ck := c.Cookie("session")
	if ck == "" {
		b.Fatal("no session cookie after sign-up")
	}
	return ck
}

func serve(b *testing.B, h http.Handler, req *http.Request, want int) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s: status %d, want %d", req.Method, req.URL.Path, rec.Code, want)
	}
	return rec
}

// BenchmarkDashboard is the signed-in page view: session load, user
// lookup, render, request log.
func BenchmarkDashboard(b *testing.B) {
	srv, h := benchServer(b, nil)
	cookie := signedInCookie(b, srv, "benchuser")
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/dashboard", nil)
		req.Header.Set("Cookie", "session="+cookie)
		serve(b, h, req, http.StatusOK)
	}
}

// BenchmarkDashboardParallel is the same page from many goroutines, as
// concurrent visitors would ask for it.
func BenchmarkDashboardParallel(b *testing.B) {
	srv, h := benchServer(b, nil)
	cookie := signedInCookie(b, srv, "benchuser")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/dashboard", nil)
			req.Header.Set("Cookie", "session="+cookie)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("status %d", rec.Code)
				return
			}
		}
	})
}

// BenchmarkSignupValidate is the inline check htmx sends while someone
// types a username: a uniqueness query and a small fragment.
func BenchmarkSignupValidate(b *testing.B) {
	_, h := benchServer(b, nil)
	body := url.Values{"username": {"someone_new"}}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/signup/validate/username", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("HX-Request", "true")
		serve(b, h, req, http.StatusOK)
	}
}

// BenchmarkSignin is a successful sign-in with the production argon2id
// parameters (password.OWASP): the hash dominates, and the rest (lookup,
// new session rows, cookie) is what the difference to
// BenchmarkVerifyOWASP in package password costs.
func BenchmarkSignin(b *testing.B) {
	benchSignin(b, &password.OWASP)
}

// BenchmarkSigninCheapHash is the same sign-in with a tiny hash, so the
// profile shows everything around the hash.
func BenchmarkSigninCheapHash(b *testing.B) {
	benchSignin(b, nil)
}

func benchSignin(b *testing.B, params *password.Params) {
	srv, h := benchServer(b, params)
	signedInCookie(b, srv, "benchuser")
	body := url.Values{"username": {"benchuser"}, "password": {"a long bench passphrase 42"}}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		serve(b, h, req, http.StatusSeeOther)
	}
}

// BenchmarkForwardAuth is the forward-auth check for a signed-in session,
// as Caddy's forward_auth asks it (product.md §11): session load, user
// lookup, the access rules, the Remote-* headers, request log; no body.
func BenchmarkForwardAuth(b *testing.B) {
	srv, h := benchServer(b, nil)
	cookie := signedInCookie(b, srv, "benchuser")
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/api/authz/forward-auth", nil)
		req.Header.Set("Cookie", "session="+cookie)
		req.Header.Set("X-Forwarded-Method", "GET")
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-Host", "app.example.com")
		req.Header.Set("X-Forwarded-Uri", "/")
		rec := serve(b, h, req, http.StatusOK)
		if rec.Header().Get("Remote-User") != "benchuser" {
			b.Fatalf("Remote-User %q, want benchuser", rec.Header().Get("Remote-User"))
		}
	}
}
