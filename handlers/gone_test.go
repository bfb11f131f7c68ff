package handlers_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/handlers"
	"gatehouse/internal/apptest"
	"gatehouse/metrics"
	"gatehouse/password"
)

// A visitor who closes the tab while their sign-in waits for a hashing
// slot is not a server error: the request is recorded as 499 (nginx's
// "client closed request") in the request log and the metrics, with an
// info line, no "request failed" error line, and the sign-in counted as
// abandoned, not as error. Nothing is started for them, and the next
// sign-in works.
func TestClientGoneWhileQueuedIsNotAServerError(t *testing.T) {
	hasher := password.NewHasher(apptest.Cheap, 1)
	m := metrics.New(nil, nil)
	srv := apptest.Start(t, apptest.Options{
		Hasher: hasher,
		Configure: func(c *handlers.Config) {
			c.Metrics = m
			c.HashWait = time.Minute // the client leaves long before the wait bound
		},
	})
	srv.NewClient(t).Signup("alice", "alice@example.com", "correct horse battery")
	before := sessionsOf(t, srv, "alice")

	slot, err := hasher.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	form := url.Values{"username": {"alice"}, "password": {"correct horse battery"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the sign-in to queue for the hashing slot", func() bool {
		return hasher.Waiting() == 1
	})
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled request got an answer")
	}
	waitFor(t, "the request log line of the abandoned sign-in", func() bool {
		return strings.Contains(srv.Logs.String(), "path=/signin status=")
	})
	slot.Release()

	logs := srv.Logs.String()
	if !strings.Contains(logs, "path=/signin status=499") || !strings.Contains(logs, `msg="client went away" method=POST path=/signin`) {
		t.Errorf("want a 499 request line and an info line for the abandoned sign-in:\n%s", logs)
	}
	if strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "request failed") {
		t.Errorf("a client that went away was logged as an error:\n%s", logs)
	}
	body := scrape(t, m)
	for _, want := range []string{
		`gatehouse_http_requests_total{method="POST",route="/signin",status="499"} 1`,
		`gatehouse_signins_total{outcome="abandoned"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, `status="500"`) || strings.Contains(body, `outcome="error"`) {
		t.Errorf("metrics count the abandoned sign-in as a server error:\n%s", grepLines(body, "gatehouse_"))
	}
	if after := sessionsOf(t, srv, "alice"); after != before {
		t.Errorf("alice has %d sessions after the abandoned sign-in, %d before", after, before)
	}
	wantStatus(t, srv.NewClient(t).Signin("alice", "correct horse battery"), http.StatusSeeOther, "the next sign-in")
}

func sessionsOf(t *testing.T, srv *apptest.Server, username string) (n int) {
	t.Helper()
	err := srv.RawDB(t).QueryRow(`SELECT count(*) FROM user_sessions JOIN users ON users.id = user_sessions.user_id WHERE users.username = ?`, username).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
