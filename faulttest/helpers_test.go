// Package faulttest runs the real gatehouse binary as a subprocess and
// breaks it: kill -9 mid-write, SIGTERM under load, backups while it
// writes, floods. It uses the production argon2id parameters (the binary
// has no others), so counts are kept small for CI; GATEHOUSE_LOAD_FULL=1
// runs the load tests at the sizes of product.md §9.
package faulttest

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"gatehouse/internal/apptest"
)

// binary is the gatehouse binary built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-faulttest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gatehouse")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(goTool, "build", "-o", binary, ".")
	build.Dir = ".." // the module root: package main
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gatehouse:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// loadFull reports whether the load tests run at full size.
func loadFull() bool { return os.Getenv("GATEHOUSE_LOAD_FULL") == "1" }

// server is a running gatehouse process.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	URL    string
	DB     string
	logs   *apptest.LogBuffer
	exited chan struct{}
	err    error // from Wait, valid after exited is closed
}

var listeningRe = regexp.MustCompile(`msg=listening addr=(\S+)`)

// start runs `gatehouse serve` on a free loopback port with the database
// dbPath and waits until it listens.
func start(t *testing.T, dbPath string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "-addr", "127.0.0.1:0", "-db", dbPath}, args...)...)
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, DB: dbPath, logs: &apptest.LogBuffer{}, exited: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logs.Write([]byte(line + "\n"))
			if m := listeningRe.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		s.err = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			logs := s.logs.String()
			// A crash's first lines say what happened; the goroutine
			// dump after them would push those out of a plain tail.
			if i := crashAt(logs); i >= 0 {
				t.Logf("server log from the crash (first 6000 bytes):\n%s", head(logs[i:], 6000))
			}
			t.Logf("server log (last 4000 bytes):\n%s", tail(logs, 4000))
		}
	})
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case <-s.exited:
		t.Fatalf("gatehouse exited at start: %v\n%s", s.err, s.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("gatehouse did not start listening:\n%s", s.logs.String())
	}
	return s
}

// cleanEnv is the test's environment without GATEHOUSE_ variables, so a
// developer's shell cannot change what the tests run.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	return env
}

// crashAt is where a Go crash report starts in a log, or -1.
func crashAt(log string) int {
	at := -1
	for _, m := range []string{"panic: ", "fatal error: ", "unexpected signal", "SIGBUS", "SIGSEGV"} {
		if i := strings.Index(log, m); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	return at
}

func head(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// signal sends sig to the server process (only that process).
func (s *server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
}

// waitExit waits up to d for the process to end.
func (s *server) waitExit(d time.Duration) (time.Duration, error) {
	s.t.Helper()
	start := time.Now()
	select {
	case <-s.exited:
		return time.Since(start), s.err
	case <-time.After(d):
		s.t.Fatalf("gatehouse still running %v after the signal", d)
		return 0, nil
	}
}

// waitInHand waits until each of n requests sent to the server (it must
// run with -metrics-addr) is in flight, by its metrics, or finished, by
// the client's count. finished is read before each scrape: a request
// counted finished has left the in-flight gauge, so none is counted
// twice, and the sum reaches n only when no request is still on its way.
func (s *server) waitInHand(n int, finished *atomic.Int64) {
	s.t.Helper()
	m := metricsAddrRe.FindStringSubmatch(s.logs.String())
	if m == nil {
		s.t.Fatal("no metrics listener in the log: start the server with -metrics-addr")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		done, inFlight := int(finished.Load()), -1
		resp, err := http.Get("http://" + m[1] + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if g := inFlightRe.FindSubmatch(body); g != nil {
				inFlight, _ = strconv.Atoi(string(g[1]))
			}
		}
		if inFlight >= 0 && done+inFlight == n {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after 30s: %d requests finished, %d in flight, of %d (scrape error: %v)", done, inFlight, n, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var (
	metricsAddrRe = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)
	inFlightRe    = regexp.MustCompile(`(?m)^gatehouse_http_requests_in_flight (\d+)$`)
)

// peakRSS is the process's peak resident memory (VmHWM), in bytes.
func (s *server) peakRSS() int64 {
	s.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		s.t.Fatalf("read peak memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				s.t.Fatalf("parse %q: %v", line, err)
			}
			return kb << 10
		}
	}
	s.t.Fatal("no VmHWM in /proc status")
	return 0
}

// newHTTPClient is a client for many concurrent requests that does not
// follow redirects and keeps no cookies (each request stands alone).
func newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 90 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// post sends a form and returns the status, or an error when no answer
// came.
func post(ctx context.Context, c *http.Client, base, path string, form url.Values, headers ...string) (int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, resp.Header, nil
}

func signupForm(name string) url.Values {
	pw := "faulttest " + name + " secret"
	return url.Values{"username": {name}, "email": {name + "@example.com"}, "password": {pw}, "password_confirm": {pw}}
}

func signinForm(name string) url.Values {
	return url.Values{"username": {name}, "password": {"faulttest " + name + " secret"}}
}

// signup creates one account and reports whether it answered 303.
func signup(ctx context.Context, c *http.Client, base, name string) (int, error) {
	status, _, err := post(ctx, c, base, "/signup", signupForm(name))
	return status, err
}

// checkSignins signs every name in, ten at a time, and fails the test for
// any that does not get 303 to /dashboard. Ten, because every sign-in in
// flight holds a place in its address's count of 10 until it succeeds (so
// that parallel guesses cannot slip past the limit), and all of these come
// from 127.0.0.1.
func checkSignins(t *testing.T, base string, names []string) {
	t.Helper()
	c := newHTTPClient(10)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	slots := make(chan struct{}, 10)
	for _, n := range names {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			status, h, err := post(context.Background(), c, base, "/signin", signinForm(n))
			if err != nil || status != http.StatusSeeOther || h.Get("Location") != "/dashboard" {
				mu.Lock()
				failed = append(failed, fmt.Sprintf("%s: %d %v", n, status, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of %d accounts cannot sign in: %v", len(failed), len(names), failed)
	}
}

// openDB opens a database file directly (not through the server). With
// immutable it reads the main file alone, ignoring any -wal beside it.
func openDB(t *testing.T, path string, immutable bool) *sql.DB {
	t.Helper()
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_busy_timeout=10000"
	if immutable {
		dsn += "&immutable=1&mode=ro"
	}
	d, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// integrityOK runs PRAGMA integrity_check and fails unless it says ok.
func integrityOK(t *testing.T, d *sql.DB) {
	t.Helper()
	rows, err := d.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0] != "ok" {
		t.Fatalf("integrity_check: %v", lines)
	}
}

func countUsers(t *testing.T, d *sql.DB) int {
	t.Helper()
	var n int
	if err := d.QueryRow("SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
