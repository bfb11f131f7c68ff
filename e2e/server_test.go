package e2e

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/apptest"
)

// App is a running Gatehouse (the real stack on a temp database) seen
// through a test-only front door on its own loopback port. The front door
// records each request (method, path, whether htmx sent it, status) and
// can hold requests back to make the server slow. The product itself is
// never slowed.
type App struct {
	*apptest.Server
	URL string // the front door; tabs use this

	mu      sync.Mutex
	hits    []Hit
	hold    func(r *http.Request, form url.Values) bool
	release chan struct{}
}

// Hit is one request the browser made.
type Hit struct {
	Method, Path string
	HTMX         bool
	Status       int
	Form         url.Values
}

// startApp runs Gatehouse and its front door for the length of the test.
func startApp(t testing.TB, opts apptest.Options) *App {
	t.Helper()
	a := &App{Server: apptest.Start(t, opts)}
	inner := a.Server.App.Handler()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var form url.Values
		if r.Method == http.MethodPost && r.Body != nil {
			// Read the form for the record and for Hold, then
			// hand the server the same bytes.
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			form, _ = url.ParseQuery(string(b))
		}
		a.mu.Lock()
		hold, release := a.hold, a.release
		a.mu.Unlock()
		if hold != nil && hold(r, form) {
			select {
			case <-release:
			case <-r.Context().Done():
				// The browser gave up on the request (htmx aborted it).
				a.record(Hit{Method: r.Method, Path: r.URL.Path, HTMX: r.Header.Get("HX-Request") == "true", Status: 499, Form: form})
				return
			}
		}
		// The request is recorded as its status is written, before any
		// byte reaches the browser: whatever the browser shows next, the
		// record is already there.
		sw := &statusRecorder{ResponseWriter: w, onStatus: func(status int) {
			a.record(Hit{Method: r.Method, Path: r.URL.Path, HTMX: r.Header.Get("HX-Request") == "true", Status: status, Form: form})
		}}
		inner.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.WriteHeader(http.StatusOK)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	a.URL = "http://" + ln.Addr().String()
	return a
}

func (a *App) record(h Hit) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hits = append(a.hits, h)
}

// Hold keeps the requests match picks waiting, before the server sees
// them, until release is called: a slow server on the test's cue, with no
// race against a clock. Requests the browser abandons meanwhile are
// recorded with status 499.
func (a *App) Hold(match func(r *http.Request, form url.Values) bool) (release func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ch := make(chan struct{})
	a.hold, a.release = match, ch
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// Hits returns the requests with this method and path, in order.
func (a *App) Hits(method, path string) []Hit {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Hit
	for _, h := range a.hits {
		if h.Method == method && h.Path == path {
			out = append(out, h)
		}
	}
	return out
}

// HitsWithStatus returns the requests answered with status.
func (a *App) HitsWithStatus(status int) []Hit {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Hit
	for _, h := range a.hits {
		if h.Status == status {
			out = append(out, h)
		}
	}
	return out
}

// mailLink waits for the server to "send" a mail (with no SMTP configured
// it goes to the log) whose link contains want, and returns that link's
// path and query, for a tab to open through the front door.
func (a *App) mailLink(t testing.TB, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The newest link wins: a new reset request voids older ones.
		var link string
		for _, m := range mailLinkRE.FindAllStringSubmatch(a.Logs.String(), -1) {
			if strings.Contains(m[1], want) {
				link = m[1]
			}
		}
		if link != "" {
			u, err := url.Parse(link)
			if err != nil {
				t.Fatalf("mail link %q: %v", link, err)
			}
			return u.RequestURI()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail with a link to %s was logged", want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var mailLinkRE = regexp.MustCompile(`link="?(https?://[^"\s]+)`)

// LastHit returns the last request with this method and path.
func (a *App) LastHit(t testing.TB, method, path string) Hit {
	t.Helper()
	hs := a.Hits(method, path)
	if len(hs) == 0 {
		t.Fatalf("no %s %s request was made", method, path)
	}
	return hs[len(hs)-1]
}

// statusRecorder remembers the status the server answered.
type statusRecorder struct {
	http.ResponseWriter
	status   int
	onStatus func(int)
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.onStatus(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// checkHit fails unless the last request to method path was answered with
// status, and (with JavaScript) was sent by htmx, or (without) was not.
func checkHit(t testing.TB, a *App, method, path string, status int, js bool) {
	t.Helper()
	h := a.LastHit(t, method, path)
	if h.Status != status {
		t.Errorf("%s %s answered %d, want %d", method, path, h.Status, status)
	}
	if h.HTMX != js {
		t.Errorf("%s %s: HX-Request sent = %v, want %v (JavaScript on = %v)", method, path, h.HTMX, js, js)
	}
}
