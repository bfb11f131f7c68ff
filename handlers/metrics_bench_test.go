package handlers_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"gatehouse/handlers"
	"gatehouse/internal/apptest"
	"gatehouse/metrics"
)

// BenchmarkDashboardMetrics is BenchmarkDashboard with metrics on
// (-metrics-addr): the route noted, the request counted and timed.
// Compare the two to see what metrics cost a signed-in page view:
//
//	go test ./handlers -run '^$' -bench 'Dashboard(Metrics)?$' -count 6
func BenchmarkDashboardMetrics(b *testing.B) {
	srv := apptest.Start(b, apptest.Options{
		Configure: func(c *handlers.Config) {
			c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			c.Metrics = metrics.New(nil, nil)
		},
	})
	h := srv.App.Handler()
	cookie := signedInCookie(b, srv, "benchuser")
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/dashboard", nil)
		req.Header.Set("Cookie", "session="+cookie)
		serve(b, h, req, http.StatusOK)
	}
}
