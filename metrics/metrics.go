// Package metrics counts what product.md §15 lists, for Prometheus:
// requests by route and status with their latency, sign-ins and sign-ups
// by outcome, the wait for a hashing slot, active sessions, mail sent and
// failed, throttle refusals, scheduled backups, and the Go runtime and
// process. It has a registry of its own (never the global default), served
// only on the metrics listener.
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Unmatched is the route label of requests that matched no route (and
// of those refused before routing: a cross-origin POST, a body too
// large), so that a scan of random paths adds no label values.
const Unmatched = "unmatched"

// latencyBuckets reach from a cached page (a millisecond) to a sign-in
// that queued for a hashing slot under a flood (up to a minute).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Metrics is the set of Gatehouse's metrics. Its methods are safe for
// concurrent use.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	inFlight  prometheus.Gauge
	signIns   *prometheus.CounterVec
	signUps   *prometheus.CounterVec
	hashWait  prometheus.Histogram
	mailSent  *prometheus.CounterVec
	mailFail  *prometheus.CounterVec
	throttled *prometheus.CounterVec
	backups   *prometheus.CounterVec
	lastGood  prometheus.Gauge
	log       *slog.Logger

	// routes caches the counter and observer of each method, route and
	// status seen, so that counting a request builds no label strings and
	// allocates nothing after the first request of its kind.
	mu     sync.RWMutex
	routes map[routeKey]routeMetrics
}

type routeKey struct {
	method, route string
	status        int
}

type routeMetrics struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// SessionCounter counts the live signed-in sessions; it is called at each
// scrape (the store's CountActiveSessions).
type SessionCounter func(ctx context.Context) (int64, error)

// New registers every metric in a registry of its own. sessions may be nil
// (no active-sessions gauge).
func New(sessions SessionCounter, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests answered, by method, route template (not the raw path) and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route template.",
			Buckets: latencyBuckets,
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_http_requests_in_flight",
			Help: "HTTP requests read and being answered now; a graceful stop waits for each of them.",
		}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_signins_total",
			Help: "Sign-in attempts by outcome: success, wrong_credentials, invalid, throttled, busy, refused, abandoned (the client went away), error.",
		}, []string{"outcome"}),
		signUps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_signups_total",
			Help: "Sign-up attempts by outcome: success, invalid, throttled, busy, abandoned (the client went away), error.",
		}, []string{"outcome"}),
		hashWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gatehouse_hash_slot_wait_seconds",
			Help:    "Time a request waited for a password-hashing slot.",
			Buckets: []float64{.0001, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		mailSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_mail_sent_total",
			Help: "Mail handed to the mail server (or, without one, to the log), by kind.",
		}, []string{"mail"}),
		mailFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_mail_failed_total",
			Help: "Mail that could not be sent, by kind.",
		}, []string{"mail"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_throttle_refusals_total",
			Help: "Attempts refused by a throttle rule, by rule.",
		}, []string{"rule"}),
		backups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_backups_total",
			Help: "Scheduled backups, by result: ok (checked and kept) or failed.",
		}, []string{"result"}),
		lastGood: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_backup_last_success_timestamp_seconds",
			Help: "When the last scheduled backup passed its check (Unix time); 0 before the first.",
		}),
		routes: make(map[routeKey]routeMetrics),
	}
	m.reg.MustRegister(m.requests, m.latency, m.inFlight, m.signIns, m.signUps, m.hashWait,
		m.mailSent, m.mailFail, m.throttled, m.backups, m.lastGood,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if sessions != nil {
		m.reg.MustRegister(&sessionsCollector{count: sessions, log: log})
	}
	// Outcomes that matter for alerting exist from the start at zero, so a
	// rate over them is defined before the first event.
	for _, o := range []string{"success", "wrong_credentials", "throttled", "busy"} {
		m.signIns.WithLabelValues(o)
	}
	for _, o := range []string{"success", "busy"} {
		m.signUps.WithLabelValues(o)
	}
	m.backups.WithLabelValues("ok")
	m.backups.WithLabelValues("failed")
	return m
}

// Handler serves the metrics in Prometheus's text format. A metric that
// cannot be read (the database not answering the sessions count) is
// logged and left out; the rest is still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:     promhttp.ContinueOnError,
		ErrorLog:          errorLog{m.log},
		Registry:          m.reg,
		EnableOpenMetrics: false,
	})
}

// knownMethods are the methods that get a label of their own; any other
// is "other", so a client inventing methods adds no label values.
var knownMethods = map[string]string{
	http.MethodGet: http.MethodGet, http.MethodHead: http.MethodHead, http.MethodPost: http.MethodPost,
	http.MethodPut: http.MethodPut, http.MethodPatch: http.MethodPatch, http.MethodDelete: http.MethodDelete,
	http.MethodOptions: http.MethodOptions,
}

// Request counts one answered request. route is the route template
// (Gin's FullPath), "" when none matched.
func (m *Metrics) Request(method, route string, status int, elapsed time.Duration) {
	k := routeKey{method: knownMethods[method], route: route, status: status}
	if k.method == "" {
		k.method = "other"
	}
	if k.route == "" {
		k.route = Unmatched
	}
	m.mu.RLock()
	rm, ok := m.routes[k]
	m.mu.RUnlock()
	if !ok {
		rm = m.addRoute(k)
	}
	rm.count.Inc()
	rm.latency.Observe(elapsed.Seconds())
}

// InFlight moves the count of requests being answered by delta: +1 when
// one starts, -1 when it ends.
func (m *Metrics) InFlight(delta int) { m.inFlight.Add(float64(delta)) }

// addRoute makes the label values of a kind of request once.
func (m *Metrics) addRoute(k routeKey) routeMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rm, ok := m.routes[k]; ok {
		return rm
	}
	rm := routeMetrics{
		count:   m.requests.WithLabelValues(k.method, k.route, strconv.Itoa(k.status)),
		latency: m.latency.WithLabelValues(k.method, k.route),
	}
	m.routes[k] = rm
	return rm
}

// SignIn counts a sign-in attempt by outcome.
func (m *Metrics) SignIn(outcome string) { m.signIns.WithLabelValues(outcome).Inc() }

// SignUp counts a sign-up attempt by outcome.
func (m *Metrics) SignUp(outcome string) { m.signUps.WithLabelValues(outcome).Inc() }

// HashWait records how long a request waited for a hashing slot.
func (m *Metrics) HashWait(d time.Duration) { m.hashWait.Observe(d.Seconds()) }

// Mail counts one mail of kind name: sent when err is nil, else failed.
func (m *Metrics) Mail(name string, err error) {
	if err != nil {
		m.mailFail.WithLabelValues(name).Inc()
		return
	}
	m.mailSent.WithLabelValues(name).Inc()
}

// Throttled counts one refusal under the rule named.
func (m *Metrics) Throttled(rule string) { m.throttled.WithLabelValues(rule).Inc() }

// Backup counts one scheduled backup: nil when a good copy was kept.
func (m *Metrics) Backup(err error) {
	if err != nil {
		m.backups.WithLabelValues("failed").Inc()
		return
	}
	m.backups.WithLabelValues("ok").Inc()
	m.lastGood.SetToCurrentTime()
}

// sessionsCollector reads the active sessions from the store at each
// scrape: a count that is always current, with nothing to keep in step.
type sessionsCollector struct {
	count SessionCounter
	log   *slog.Logger
}

var sessionsDesc = prometheus.NewDesc("gatehouse_active_sessions",
	"Signed-in sessions neither expired nor idle too long, read from the store at scrape time.", nil, nil)

// scrapeTimeout bounds the count, so a slow database delays a scrape
// rather than piling scrapes up.
const scrapeTimeout = 5 * time.Second

func (c *sessionsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- sessionsDesc }

func (c *sessionsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	n, err := c.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(sessionsDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(n))
}

// errorLog gives promhttp's errors to slog.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Println(v ...any) {
	e.log.Error("metrics", "err", fmt.Sprint(v...))
}
