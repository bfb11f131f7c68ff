package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/mail/mailtest"
)

// product.md §15: bad operations flags stop the start with one line that
// names the flag; -backup-dir with PostgreSQL points to pg_dump.
func TestOperationsFlagsStopWithOneLine(t *testing.T) {
	tmp := t.TempDir()
	notADir := filepath.Join(tmp, "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-log-format", "xml"}, nil, "-log-format"},
		{nil, map[string]string{"GATEHOUSE_LOG_FORMAT": "JSON!"}, "GATEHOUSE_LOG_FORMAT"},
		{[]string{"-metrics-addr", "9100"}, nil, "-metrics-addr"},
		{[]string{"-backup-dir", tmp, "-backup-every", "10s"}, nil, "-backup-every"},
		{[]string{"-backup-dir", tmp, "-backup-keep", "0"}, nil, "-backup-keep"},
		{nil, map[string]string{"GATEHOUSE_BACKUP_EVERY": "daily"}, "GATEHOUSE_BACKUP_EVERY"},
		{[]string{"-backup-dir", filepath.Join(notADir, "backups")}, nil, "-backup-dir"},
		{[]string{"-backup-dir", tmp, "-db", "postgres://gatehouse@127.0.0.1:1/gatehouse", "-secret-key-file", "/dev/null"}, nil, "pg_dump"},
		{[]string{"-db", "postgresql://gatehouse@127.0.0.1:1/gatehouse"}, map[string]string{"GATEHOUSE_BACKUP_DIR": tmp, "GATEHOUSE_SECRET_KEY_FILE": "/dev/null"}, "pg_dump"},
		// The retention must never take the database for an old copy.
		{[]string{"-backup-dir", tmp, "-db", filepath.Join(tmp, "auth-20260101T000000Z.db")}, nil, "-backup-dir"},
	}
	for _, tc := range cases {
		args := append([]string{"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(tmp, "auth.db")}, tc.args...)
		err := run(context.Background(), args, env(tc.env), nil, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("%v %v: no error", tc.args, tc.env)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%v %v: error %q should be one line naming %q", tc.args, tc.env, msg, tc.want)
		}
	}
}

// The defaults of §15: backups off, every 24h, keep 7; metrics off; text logs.
func TestOperationsDefaults(t *testing.T) {
	var c serveConfig
	if err := parseFlags(serveFlags(&c), nil, env(nil)); err != nil {
		t.Fatal(err)
	}
	if c.BackupDir != "" || c.BackupEvery != 24*time.Hour || c.BackupKeep != 7 || c.MetricsAddr != "" || c.LogFormat != "text" {
		t.Fatalf("defaults %+v", c)
	}
}

// product.md §15: with -backup-dir the server makes the directory (0700)
// and says when the first copy comes. (The schedule itself is tested in
// package backup, with a clock the tests move.)
func TestBackupDirPreparedAtStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups", "gatehouse")
	_, logs, stop := serveMail(t, "-backup-dir", dir, "-backup-every", "6h", "-backup-keep", "3")
	stop()
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() || info.Mode().Perm() != 0o700 {
		t.Fatalf("backup dir: %v %v, want a directory with mode 700", info, err)
	}
	if !strings.Contains(logs.String(), `msg="scheduled backups" dir=`+dir+" every=6h0m0s keep=3 first_in=1m0s") {
		t.Errorf("the start log does not announce the schedule:\n%s", logs)
	}
}

// product.md §15: gatehouse backup -verify FILE prints one summary line
// for a good copy and exits non-zero, with one line, for a bad one.
func TestBackupVerify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.db")
	base, stop := startServe(t, path)
	signup(t, base, "alice")
	signup(t, base, "bobby")
	good := filepath.Join(dir, "copy.db")
	if err := run(context.Background(), []string{"backup", "-db", path, good}, env(nil), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	stop()

	var out bytes.Buffer
	if err := run(context.Background(), []string{"backup", "-verify", good}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatalf("verify a good copy: %v", err)
	}
	line := out.String()
	if !regexp.MustCompile(`^.*copy\.db: ok: integrity ok, schema version \d+ of \d+, 2 accounts, 2 sessions\n$`).MatchString(line) {
		t.Errorf("summary %q", line)
	}

	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"truncated.db": data[:len(data)/3],
		"notes.txt":    []byte("not a database at all\n"),
		"damaged.db":   damageTable(t, good, data, "users"),
	}
	for name, b := range bad {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		err := run(context.Background(), []string{"backup", "-verify", p}, env(nil), nil, &out, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "NOT usable") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: verify = %v, want one line saying it is not usable", name, err)
		}
		if out.Len() != 0 {
			t.Errorf("%s: verify printed %q on standard output", name, out.String())
		}
	}
	if err := run(context.Background(), []string{"backup", "-verify", filepath.Join(dir, "none.db")}, env(nil), nil, io.Discard, io.Discard); err == nil {
		t.Error("verify of a missing file succeeded")
	}
}

// damageTable returns data, the bytes of the SQLite file at path, with the
// second half of table's root page overwritten: the file still opens, and
// PRAGMA integrity_check reports several problems in one row.
func damageTable(t *testing.T, path string, data []byte, table string) []byte {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var root, size int
	if err := conn.QueryRow("SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = ?", table).Scan(&root); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow("PRAGMA page_size").Scan(&size); err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(data)
	page := damaged[(root-1)*size : root*size]
	for i := size / 2; i < size; i++ {
		page[i] = 0xA5
	}
	return damaged
}

var metricsRE = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)

// get fetches url and returns the status and body.
func get(t *testing.T, c *http.Client, u string, cookie string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if cookie != "" {
		req.Header.Set("Cookie", "session="+cookie)
	}
	r, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

// signinCookie signs in and returns the session cookie.
func signinCookie(t *testing.T, base, name, pw string) string {
	t.Helper()
	r, err := noRedirects().PostForm(base+"/signin", url.Values{"username": {name}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in %s: %d", name, r.StatusCode)
	}
	for _, c := range r.Cookies() {
		if c.Name == "session" {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// product.md §15: /metrics on the metrics listener only (404 on the main
// one), from a registry of Gatehouse's own: requests by route template and
// status, sign-ins and sign-ups by outcome, the hashing-slot wait, active
// sessions, throttle refusals, the Go runtime and the process.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	base, logs, stop := serveMail(t, "-metrics-addr", "127.0.0.1:0")
	defer stop()
	m := metricsRE.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no metrics listener in the log:\n%s", logs)
	}
	metricsURL := "http://" + m[1] + "/metrics"
	c := noRedirects()

	if status, _ := get(t, c, base+"/metrics", ""); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the main listener: %d, want 404", status)
	}
	signup(t, base, "alice")
	cookie := signinCookie(t, base, "alice", "correct horse battery")
	for range 3 {
		if status, _ := get(t, c, base+"/dashboard", cookie); status != http.StatusOK {
			t.Fatalf("dashboard: %d", status)
		}
	}
	if s := signinStatus(t, base, "alice-typo"); s != http.StatusUnauthorized {
		t.Fatalf("wrong sign-in: %d", s)
	}
	get(t, c, base+"/no/such/page-12345", "")
	get(t, c, base+"/static/no-such-file-67890.css", "")

	status, body := get(t, c, metricsURL, "")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", status, body)
	}
	for _, want := range []string{
		`gatehouse_http_requests_total{method="GET",route="/dashboard",status="200"} 3`,
		`gatehouse_http_requests_total{method="POST",route="/signup",status="303"} 1`,
		`gatehouse_http_requests_total{method="POST",route="/signin",status="303"} 1`,
		`gatehouse_http_requests_total{method="POST",route="/signin",status="401"} 1`,
		`gatehouse_http_requests_total{method="GET",route="unmatched",status="404"} 2`,
		`gatehouse_http_requests_total{method="GET",route="/static/*file",status="404"} 1`,
		`gatehouse_http_request_duration_seconds_count{method="GET",route="/dashboard"} 3`,
		`gatehouse_signins_total{outcome="success"} 1`,
		`gatehouse_signins_total{outcome="wrong_credentials"} 1`,
		`gatehouse_signups_total{outcome="success"} 1`,
		`gatehouse_hash_slot_wait_seconds_count 3`,
		"gatehouse_http_requests_in_flight 0\n", // every request answered
		`gatehouse_active_sessions 2`,
		`gatehouse_mail_sent_total{mail="verify"} 1`,
		`gatehouse_backups_total{result="ok"} 0`,
		"go_goroutines ", "go_gc_duration_seconds", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Label values are route templates, never raw paths.
	for _, raw := range []string{"page-12345", "no-such-file-67890", "alice"} {
		if strings.Contains(body, raw) {
			t.Errorf("/metrics shows the raw %q", raw)
		}
	}
	// The registry is Gatehouse's own: the global default's handler
	// metrics are not there.
	if strings.Contains(body, "promhttp_metric_handler_requests_total") {
		t.Error("/metrics serves the global default registry")
	}

	// Throttle refusals: the address has one failure (the typo above);
	// nine more reach its limit of ten, and the next two are refused.
	for range 11 {
		signinStatus(t, base, "mallory")
	}
	_, body = get(t, c, metricsURL, "")
	if !strings.Contains(body, `gatehouse_throttle_refusals_total{rule="signin"} 2`) ||
		!strings.Contains(body, `gatehouse_signins_total{outcome="throttled"} 2`) ||
		!strings.Contains(body, `gatehouse_signins_total{outcome="wrong_credentials"} 10`) {
		t.Errorf("throttle refusal not counted:\n%s", grepLines(body, "throttle", "signins"))
	}
}

func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) && !strings.HasPrefix(l, "#") {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// product.md §1, §15: with -log-format json every line of the log (events
// and requests) is one JSON object, and after a sign-up, a sign-in and a
// password reset none holds a password, a session token or a link token.
func TestJSONLogsParseAndHoldNoSecret(t *testing.T) {
	m := mailtest.Start(t)
	base, logs, stop := serveMail(t, "-log-format", "json", "-smtp-url", m.URL())
	const pw1, pw2 = "first secret passphrase 1", "second secret passphrase 2"
	secrets := []string{pw1, pw2, url.QueryEscape(pw1), url.QueryEscape(pw2)}

	r, err := noRedirects().PostForm(base+"/signup", url.Values{"username": {"alice"}, "email": {"alice@example.com"},
		"password": {pw1}, "password_confirm": {pw1}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-up: %d", r.StatusCode)
	}
	for _, c := range r.Cookies() {
		secrets = append(secrets, c.Value)
	}
	secrets = append(secrets, signinCookie(t, base, "alice", pw1))
	r, err = noRedirects().PostForm(base+"/forgot", url.Values{"email": {"alice@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	msgs := m.WaitFor(t, 2, 20*time.Second) // the verification link, the reset link
	var resetToken string
	for _, msg := range msgs {
		for _, tok := range regexp.MustCompile(`/(verify|reset)\?token=([A-Za-z0-9_-]+)`).FindAllStringSubmatch(msg.Text, -1) {
			secrets = append(secrets, tok[2])
			if tok[1] == "reset" {
				resetToken = tok[2]
			}
		}
	}
	if resetToken == "" {
		t.Fatalf("no reset link in %+v", msgs)
	}
	r, err = noRedirects().PostForm(base+"/reset", url.Values{"token": {resetToken},
		"new_password": {pw2}, "new_password_confirm": {pw2}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset: %d", r.StatusCode)
	}
	secrets = append(secrets, signinCookie(t, base, "alice", pw2))
	stop()

	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(nil, 1<<20)
	lines, requests := 0, 0
	for sc.Scan() {
		line := sc.Text()
		lines++
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("line %d is not JSON: %v\n%s", lines, err, line)
			continue
		}
		if rec["time"] == nil || rec["level"] == nil || rec["msg"] == nil {
			t.Errorf("line %d lacks time, level or msg: %s", lines, line)
		}
		if rec["msg"] == "request" {
			requests++
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(line, s) {
				t.Errorf("line %d holds a secret %q: %s", lines, s, line)
			}
		}
	}
	if requests < 5 || lines < requests+3 {
		t.Errorf("%d lines, %d request lines: the request log or the events are missing:\n%s", lines, requests, logs)
	}
}

// product.md §15: mail that cannot be sent is counted as failed.
func TestMetricsCountFailedMail(t *testing.T) {
	// A port nobody listens on: the mail server refuses the connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	base, logs, stop := serveMail(t, "-metrics-addr", "127.0.0.1:0", "-smtp-url", "smtp://"+dead)
	defer stop()
	m := metricsRE.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no metrics listener in the log:\n%s", logs)
	}
	signup(t, base, "alice")
	// The mail goes out in the background: wait for its failure in the log.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "mail failed") {
		if time.Now().After(deadline) {
			t.Fatalf("the mail did not fail:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, body := get(t, noRedirects(), "http://"+m[1]+"/metrics", "")
	if !strings.Contains(body, `gatehouse_mail_failed_total{mail="verify"} 1`) || strings.Contains(body, `gatehouse_mail_sent_total{mail="verify"}`) {
		t.Errorf("failed mail not counted:\n%s", grepLines(body, "gatehouse_mail"))
	}
}
