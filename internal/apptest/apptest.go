// Package apptest starts the real Gatehouse stack for tests: a fresh SQLite
// file in t.TempDir(), the real router behind a real HTTP server on
// loopback, and real argon2id with cheap parameters.
package apptest

import (
	"context"
	"database/sql"
	"gatehouse/oidcop"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/publicsuffix"

	"gatehouse/db"
	"gatehouse/handlers"
	"gatehouse/password"
	"gatehouse/secretkey"

	_ "github.com/mattn/go-sqlite3" // OpenRaw
)

// Cheap is argon2id with test-sized costs: real hashing, fast tests.
var Cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Options change the server a test gets; the zero value is the defaults.
type Options struct {
	SessionLifetime time.Duration // default 720h
	SessionIdle     time.Duration // default 168h
	BaseURL         string        // default the test server's URL
	TrustedProxies  []string
	Params          *password.Params // default Cheap
	DBPath          string           // default a file in t.TempDir()
	Configure       func(*handlers.Config)
	// Hasher replaces the default one (Params, 4 hashes at a time), so a
	// test can share it with the server, e.g. to keep it busy.
	Hasher *password.Hasher
	// DiscardLogs drops the server's log instead of keeping it in
	// Server.Logs, for fuzzing, where millions of requests would fill it.
	DiscardLogs bool
}

// Server is a running Gatehouse.
type Server struct {
	URL    string // empty from New
	Store  *db.Store
	App    *handlers.App
	DBPath string
	Logs   *LogBuffer
	Key    *secretkey.Key // the server's secret key (auth.db.key beside the file)
	http   *http.Server
}

// LogBuffer collects log lines for assertions; the server's goroutines
// may write while a test reads.
type LogBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Start runs a server for the length of the test.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	ln := newListener(t)
	addr := "http://" + ln.Addr().String()
	if opts.BaseURL == "" {
		opts.BaseURL = addr
	}
	s := New(t, opts)
	s.URL = addr
	s.http = &http.Server{Handler: s.App.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(ln)
	// Registered after New's cleanup, so it runs first: no request is
	// in flight when the store closes.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.http.Shutdown(ctx)
	})
	return s
}

// New builds the store and App that Start serves, without a listener, for
// tests that call App.Handler() directly (fuzzing with httptest). URL is
// empty; links use opts.BaseURL, by default http://gatehouse.test.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	path := opts.DBPath
	if path == "" {
		path = filepath.Join(t.TempDir(), "auth.db")
	}
	store, err := db.Open(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	base := opts.BaseURL
	if base == "" {
		base = "http://gatehouse.test"
	}
	baseURL, err := url.Parse(base)
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	params := Cheap
	if opts.Params != nil {
		params = *opts.Params
	}
	logs := &LogBuffer{}
	var logTo io.Writer = logs
	if opts.DiscardLogs {
		logTo = io.Discard
	}
	key, err := secretkey.LoadFor(context.Background(), store, path+".key")
	if err != nil {
		store.Close()
		t.Fatalf("secret key: %v", err)
	}
	cfg := handlers.Config{
		SecretKey:       key,
		BaseURL:         baseURL,
		SessionLifetime: orDefault(opts.SessionLifetime, 720*time.Hour),
		SessionIdle:     orDefault(opts.SessionIdle, 168*time.Hour),
		TrustedProxies:  opts.TrustedProxies,
		Logger:          slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	hasher := opts.Hasher
	if hasher == nil {
		hasher = password.NewHasher(params, 4)
	}
	app, err := handlers.New(cfg, handlers.Backend{Store: store, Sessions: store.SessionStore(), Throttle: store}, hasher)
	if err != nil {
		store.Close()
		t.Fatalf("handlers.New: %v", err)
	}
	// The first start makes the OpenID Connect signing key in the
	// background; asking for the key set waits until it is stored, so no
	// start-up write lands in the middle of a test.
	keys := httptest.NewRequest(http.MethodGet, base+oidcop.PathKeys, nil)
	app.Handler().ServeHTTP(httptest.NewRecorder(), keys)
	t.Cleanup(func() {
		// Background mail jobs use the store: let them finish first.
		app.Wait()
		store.Close()
	})
	return &Server{Store: store, App: app, DBPath: path, Logs: logs, Key: key}
}

// OpenRaw opens the SQLite file at path directly, past the store, so a
// test can check what was stored (only hashes, no rows left behind) where
// no store method says the same thing. It is read-only; it closes when
// the test ends.
func OpenRaw(t testing.TB, path string) *sql.DB {
	t.Helper()
	return openRaw(t, path, "&mode=ro")
}

// OpenRawWritable is OpenRaw for the few tests that must change a stored
// row the product offers no way to change, such as aging a link past its
// expiry.
func OpenRawWritable(t testing.TB, path string) *sql.DB {
	t.Helper()
	return openRaw(t, path, "")
}

func openRaw(t testing.TB, path, mode string) *sql.DB {
	t.Helper()
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_busy_timeout=5000" + mode
	d, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// RawDB is OpenRaw on the server's database file.
func (s *Server) RawDB(t testing.TB) *sql.DB {
	t.Helper()
	return OpenRaw(t, s.DBPath)
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Client is a browser-like HTTP client with a cookie jar that does not
// follow redirects, so tests see every 303.
type Client struct {
	*http.Client
	Base string
	t    testing.TB
}

// NewClient returns a fresh client (a new browser) for s.
func (s *Server) NewClient(t testing.TB) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{
		Client: &http.Client{
			Jar:     jar,
			Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		Base: s.URL,
		t:    t,
	}
}

// Response is a finished response with its body read.
type Response struct {
	*http.Response
	Body string
}

// Do sends a request; headers are pairs of name, value.
func (c *Client) Do(method, path string, form url.Values, headers ...string) *Response {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.Base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return &Response{Response: resp, Body: string(b)}
}

// Get is Do("GET", path, nil, headers...).
func (c *Client) Get(path string, headers ...string) *Response {
	c.t.Helper()
	return c.Do(http.MethodGet, path, nil, headers...)
}

// Post is Do("POST", path, form, headers...).
func (c *Client) Post(path string, form url.Values, headers ...string) *Response {
	c.t.Helper()
	return c.Do(http.MethodPost, path, form, headers...)
}

// Cookie returns the value of the client's cookie name for the server, or "".
func (c *Client) Cookie(name string) string {
	u, _ := url.Parse(c.Base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// SetCookie puts a cookie in the client's jar (to replay an old token).
func (c *Client) SetCookie(name, value string) {
	u, _ := url.Parse(c.Base)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// Signup creates an account through the real form and fails the test
// unless it answers 303 to /dashboard. The client is then signed in.
func (c *Client) Signup(username, email, pw string) {
	c.t.Helper()
	r := c.Post("/signup", url.Values{"username": {username}, "email": {email}, "password": {pw}, "password_confirm": {pw}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
		c.t.Fatalf("signup %s: got %d %q, want 303 /dashboard; body:\n%s", username, r.StatusCode, r.Header.Get("Location"), r.Body)
	}
}

// Signin signs in through the real form and fails the test unless it
// answers 303.
func (c *Client) Signin(login, pw string) *Response {
	c.t.Helper()
	r := c.Post("/signin", url.Values{"username": {login}, "password": {pw}})
	if r.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("signin %s: got %d, want 303; body:\n%s", login, r.StatusCode, r.Body)
	}
	return r
}

// NewClientVia returns a fresh client whose requests go to base (a URL
// with a host name that no DNS knows, such as http://app.gatehouse.test:8080)
// but connect to addr (host:port on loopback), as if DNS named it: the
// Host header and the cookie jar see the name, so cookies with a Domain
// behave as in a browser. The jar follows the public suffix list.
func NewClientVia(t testing.TB, base, addr string) *Client {
	jar, _ := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	return &Client{
		Client: &http.Client{
			Jar:     jar,
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return dialer.DialContext(ctx, network, addr)
				},
			},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		Base: base,
		t:    t,
	}
}

// Addr is the server's listening address (host:port).
func (s *Server) Addr() string { return strings.TrimPrefix(s.URL, "http://") }
