package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/static"
	"gatehouse/views"
)

// serveBaseline is the yardstick of product.md §9: a bare Gin engine, no
// middleware, one route that renders the dashboard from the same
// templates and the same data as Gatehouse, into a buffer as Gatehouse
// does, and writes it. It runs as its own process (this binary, re-run
// with -baseline-addr) so that it and Gatehouse are measured alike.
func serveBaseline(addr, dataJSON string) error {
	var d views.Data
	if err := json.Unmarshal([]byte(dataJSON), &d); err != nil {
		return fmt.Errorf("baseline data: %w", err)
	}
	v, err := views.New(static.URL)
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/dashboard", func(c *gin.Context) {
		var buf bytes.Buffer
		if err := v.Render(&buf, views.PageDashboard, "base", d); err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
	})
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	slog.New(slog.NewTextHandler(os.Stderr, nil)).Info("listening", "addr", ln.Addr().String())
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}
