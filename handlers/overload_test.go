package handlers_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/db"
	"gatehouse/handlers"
	"gatehouse/internal/apptest"
	"gatehouse/password"
)

// busyHasher keeps a one-slot Hasher busy: several goroutines hash in a
// loop, so a request always finds others queued ahead of it (the queue is
// first come, first served), each with a 32 MiB hash to do, far longer
// than the server's 10 ms wait. It returns once each goroutine has hashed
// once (so all are in the queue's cycle); stop ends them and waits.
func busyHasher(h *password.Hasher) (stop func()) {
	done := make(chan struct{})
	var wg, started sync.WaitGroup
	for range 6 {
		started.Add(1)
		wg.Go(func() {
			h.Hash(context.Background(), "keeping the hasher busy")
			started.Done()
			for {
				select {
				case <-done:
					return
				default:
					h.Hash(context.Background(), "keeping the hasher busy")
				}
			}
		})
	}
	started.Wait()
	return sync.OnceFunc(func() { close(done); wg.Wait() })
}

// When every hashing slot stays taken longer than Config.HashWait, forms
// that hash answer 503 with Retry-After and the form again (values kept,
// passwords not), nothing is written, and a sign-in turned away does not
// count against the throttle.
func TestOverloadAnswers503(t *testing.T) {
	hasher := password.NewHasher(password.Params{Memory: 32 << 10, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	srv := apptest.Start(t, apptest.Options{
		TrustedProxies: []string{"127.0.0.1"},
		Hasher:         hasher,
		Configure:      func(cfg *handlers.Config) { cfg.HashWait = 10 * time.Millisecond },
	})
	alice := srv.NewClient(t)
	alice.Signup("alice", "alice@example.com", "alice's long password")

	stop := busyHasher(hasher)
	defer stop()
	busy := func(r *apptest.Response, what string) {
		t.Helper()
		wantStatus(t, r, http.StatusServiceUnavailable, what)
		if r.Header.Get("Retry-After") != "5" {
			t.Errorf("%s: Retry-After %q, want 5", what, r.Header.Get("Retry-After"))
		}
		if !strings.Contains(r.Body, "Gatehouse is busy. Try again in a few seconds.") {
			t.Errorf("%s: no busy message:\n%.2000s", what, r.Body)
		}
	}
	signup := url.Values{"username": {"bob"}, "email": {"bob@example.com"}, "password": {"bob's secret words"}, "password_confirm": {"bob's secret words"}}

	// Sign-up: the whole page, values kept, password not; no account.
	r := srv.NewClient(t).Post("/signup", signup)
	busy(r, "sign-up")
	if !strings.Contains(r.Body, `value="bob@example.com"`) || strings.Contains(r.Body, "bob&#39;s secret words") || !strings.Contains(r.Body, "<html") {
		t.Errorf("sign-up 503 should be the page with the email kept and no password:\n%.3000s", r.Body)
	}
	// htmx: the form fragment only.
	r = srv.NewClient(t).Post("/signup", signup, "HX-Request", "true")
	busy(r, "htmx sign-up")
	if strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, `name="username"`) {
		t.Errorf("htmx 503 should be the form fragment:\n%.2000s", r.Body)
	}
	if _, err := srv.Store.UserByUsername(context.Background(), "bob"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("bob exists after a 503 sign-up (err %v)", err)
	}

	// Sign-in: twelve wrong passwords from one address, all turned away
	// unchecked. Had they counted, the eleventh would be 429.
	for range 12 {
		busy(signinFrom(srv.NewClient(t), "192.0.2.8", "alice", "wrong password"), "sign-in")
	}

	// Deleting the account: 503, and the account is still there.
	r = alice.Post("/account/delete", url.Values{"current_password": {"alice's long password"}}, "HX-Request", "true")
	busy(r, "delete account")
	if _, err := srv.Store.UserByUsername(context.Background(), "alice"); err != nil {
		t.Errorf("alice gone after a 503 delete: %v", err)
	}
	if strings.Contains(srv.Logs.String(), "request failed") {
		t.Errorf("a busy hasher logged a server error:\n%s", srv.Logs)
	}

	// Once the queue drains, everything works, and the throttle was not
	// charged for the sign-ins turned away.
	stop()
	wantStatus(t, signinFrom(srv.NewClient(t), "192.0.2.8", "alice", "alice's long password"), http.StatusSeeOther, "sign-in after the rush")
	wantStatus(t, srv.NewClient(t).Post("/signup", signup), http.StatusSeeOther, "sign-up after the rush")
}
