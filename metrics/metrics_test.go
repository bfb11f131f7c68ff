package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

// Label values stay bounded whatever clients send: an invented method is
// "other", no route is "unmatched".
func TestRequestLabelsBounded(t *testing.T) {
	m := metrics.New(nil, nil)
	m.Request("BREW", "", 404, time.Millisecond)
	m.Request("GET", "/dashboard", 200, time.Millisecond)
	m.Request("GET", "/dashboard", 200, 2*time.Millisecond)
	_, body := scrape(t, m)
	for _, want := range []string{
		`gatehouse_http_requests_total{method="other",route="unmatched",status="404"} 1`,
		`gatehouse_http_requests_total{method="GET",route="/dashboard",status="200"} 2`,
		`gatehouse_http_request_duration_seconds_count{method="GET",route="/dashboard"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("lacks %q", want)
		}
	}
	if strings.Contains(body, "BREW") {
		t.Error("an invented method became a label value")
	}
}

// Counting a request of a kind already seen allocates nothing: the
// signed-in page must stay cheap (product.md §9).
func TestRequestAllocatesNothing(t *testing.T) {
	m := metrics.New(nil, nil)
	m.Request("GET", "/dashboard", 200, time.Millisecond)
	if n := testing.AllocsPerRun(1000, func() {
		m.Request("GET", "/dashboard", 200, time.Millisecond)
	}); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
}

// The in-flight gauge counts requests between their start and their end.
func TestRequestsInFlight(t *testing.T) {
	m := metrics.New(nil, nil)
	m.InFlight(1)
	m.InFlight(1)
	if _, body := scrape(t, m); !strings.Contains(body, "gatehouse_http_requests_in_flight 2\n") {
		t.Errorf("two started: gauge wrong:\n%s", body)
	}
	m.InFlight(-1)
	if _, body := scrape(t, m); !strings.Contains(body, "gatehouse_http_requests_in_flight 1\n") {
		t.Error("one ended: the gauge did not go down")
	}
}

// The active-sessions gauge is read at scrape time; when the store does
// not answer, the error is logged and every other metric still served.
func TestActiveSessionsReadAtScrape(t *testing.T) {
	n, fail := int64(3), false
	m := metrics.New(func(context.Context) (int64, error) {
		if fail {
			return 0, errors.New("database is locked")
		}
		return n, nil
	}, nil)
	if _, body := scrape(t, m); !strings.Contains(body, "gatehouse_active_sessions 3\n") {
		t.Errorf("gauge missing:\n%s", body)
	}
	n = 5
	if _, body := scrape(t, m); !strings.Contains(body, "gatehouse_active_sessions 5\n") {
		t.Error("the gauge is not read again at the next scrape")
	}
	fail = true
	status, body := scrape(t, m)
	if status != http.StatusOK || strings.Contains(body, "gatehouse_active_sessions ") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("with the store failing: %d, want 200 with the other metrics and no gauge", status)
	}
}

// A backup that passed sets the time of the last good one; a failure only
// counts.
func TestBackupResults(t *testing.T) {
	m := metrics.New(nil, nil)
	m.Backup(errors.New("disk full"))
	_, body := scrape(t, m)
	if !strings.Contains(body, `gatehouse_backups_total{result="failed"} 1`) || !strings.Contains(body, "gatehouse_backup_last_success_timestamp_seconds 0\n") {
		t.Errorf("after a failure:\n%s", body)
	}
	m.Backup(nil)
	_, body = scrape(t, m)
	if !strings.Contains(body, `gatehouse_backups_total{result="ok"} 1`) || strings.Contains(body, "gatehouse_backup_last_success_timestamp_seconds 0\n") {
		t.Errorf("after a good backup:\n%s", body)
	}
}
