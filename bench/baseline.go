package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/static"
	"gatehouse/views"
)

// serveBaseline is the yardstick of product.md §9: a bare Gin engine, no
// middleware, one route that renders the dashboard from the same
// templates and the same data as Gatehouse, into one buffer as Gatehouse
// does, and writes it; with the request log on as in production. It runs
// as its own process (this binary, re-run with -baseline-addr) so that it
// and Gatehouse are measured alike.
func serveBaseline(addr, dataJSON string) error {
	var d views.Data
	if err := json.Unmarshal([]byte(dataJSON), &d); err != nil {
		return fmt.Errorf("baseline data: %w", err)
	}
	v, err := views.New(static.URL)
	if err != nil {
		return err
	}
	// The runtime settings `gatehouse serve` makes for itself (gc.go), so
	// that the two differ in the request path only.
	debug.SetGCPercent(200)
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/dashboard", func(c *gin.Context) {
		b, err := v.HTML(views.PageDashboard, "base", d)
		if err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		c.Data(http.StatusOK, "text/html; charset=utf-8", b)
	})
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	// The log: the same handler (slog's text handler) on the same kind of
	// sink (stderr, which the bench sends to a file for both servers), the
	// same line per request as Gatehouse writes.
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	return listen(addr, logRequests(logger, r), logger)
}

// logRequests writes one line per request, with the attributes of
// Gatehouse's request log (handlers/middleware.go), written the same way.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

// statusWriter remembers the status code for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveCeiling is the cheapest server there is for a response of the
// page's size: net/http with no timeouts (each costs a deadline per
// request), no router, no log, a byte slice written as it is. What wrk
// gets from it is the generator's ceiling (see maxBaseOfCeiling): the
// cheaper this server, the higher and the stricter the ceiling. The bench
// re-runs this binary with -ceiling-addr.
func serveCeiling(addr, bodyFile string) error {
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	// Framed as Gin's c.Data frames the page: with Content-Length (without
	// it, net/http chunks a body over 2 KiB).
	length := []string{strconv.Itoa(len(body))}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Write([]byte("ok"))
			return
		}
		w.Header()["Content-Type"] = htmlType
		w.Header()["Content-Length"] = length
		w.Write(body)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return (&http.Server{Handler: h}).Serve(ln)
}

var htmlType = []string{"text/html; charset=utf-8"}

// listen serves h on addr with the http.Server settings of `gatehouse
// serve` (main.go), so that the servers differ in their handlers only.
func listen(addr string, h http.Handler, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	logger.Info("listening", "addr", ln.Addr().String())
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return srv.Serve(ln)
}
