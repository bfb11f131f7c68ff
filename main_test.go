package main

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/apptest"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestHelpListsEveryFlagWithItsVariable(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"serve", "backup", "-addr", "GATEHOUSE_ADDR", "-db", "GATEHOUSE_DB",
		"-base-url", "GATEHOUSE_BASE_URL", "-session-lifetime", "GATEHOUSE_SESSION_LIFETIME",
		"-session-idle", "GATEHOUSE_SESSION_IDLE", "-trusted-proxies", "GATEHOUSE_TRUSTED_PROXIES",
		"-smtp-url", "GATEHOUSE_SMTP_URL", "-mail-from", "GATEHOUSE_MAIL_FROM",
		"-backup-dir", "GATEHOUSE_BACKUP_DIR", "-backup-every", "GATEHOUSE_BACKUP_EVERY", "-backup-keep", "GATEHOUSE_BACKUP_KEEP",
		"-metrics-addr", "GATEHOUSE_METRICS_ADDR", "-log-format", "GATEHOUSE_LOG_FORMAT", "backup -verify FILE"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("help lacks %q", s)
		}
	}
}

// -h (or -help, --help) where a command reads its flags prints the help
// and succeeds, as `gatehouse help` does; it printed nothing and exited 2.
func TestDashHPrintsHelp(t *testing.T) {
	for _, args := range [][]string{
		{"-h"}, {"--help"}, {"serve", "-h"}, {"backup", "-help"},
		{"user", "add", "-h"}, {"client", "list", "-h"}, {"copy", "-h"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), args, env(nil), nil, &out, io.Discard); err != nil {
			t.Errorf("%v: %v", args, err)
		}
		if !strings.Contains(out.String(), "serve flags:") || !strings.Contains(out.String(), "GATEHOUSE_ADDR") {
			t.Errorf("%v printed %q, want the help", args, out.String())
		}
	}
}

// product.md §1: help names every flag of every command with its
// variable. The flag sets are the ones the commands parse, so a flag
// added to a command and not to help fails here.
func TestHelpNamesEveryCommandsFlagsAndVariables(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	sets := map[string]*flag.FlagSet{
		"serve":  serveFlags(&serveConfig{}),
		"backup": backupFlags(&backupConfig{}),
		"copy":   copyFlags(&copyConfig{}),
	}
	for _, c := range userCommands {
		sets["user "+c.name] = userFlags(c.name, &userConfig{})
	}
	for _, name := range []string{"add", "list", "delete"} {
		sets["client "+name] = clientFlags(name, &clientConfig{})
	}
	for cmd, fs := range sets {
		section := helpSection(help, strings.Fields(cmd)[0])
		if section == "" {
			t.Errorf("help has no part for %s", cmd)
			continue
		}
		fs.VisitAll(func(f *flag.Flag) {
			// The flag and its variable on one line of the command's part.
			line := regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(f.Name) + `\s.*\(` + regexp.QuoteMeta(envName(f.Name)) + `\)`)
			if !line.MatchString(section) {
				t.Errorf("help's %q part lacks -%s with %s", strings.Fields(cmd)[0], f.Name, envName(f.Name))
			}
		})
	}
}

// helpSection is the part of help about cmd: from its "cmd flags:" or
// "cmd commands" heading to the next blank line; "" if there is none.
func helpSection(help, cmd string) string {
	for _, part := range strings.Split(help, "\n\n") {
		if strings.HasPrefix(part, cmd+" flags:") || strings.HasPrefix(part, cmd+" commands") {
			return part
		}
	}
	return ""
}

func TestFlagsWinOverEnvironment(t *testing.T) {
	var c serveConfig
	fs := serveFlags(&c)
	err := parseFlags(fs, []string{"-addr", "127.0.0.1:9000"}, env(map[string]string{
		"GATEHOUSE_ADDR": ":7000", "GATEHOUSE_DB": "/tmp/x.db", "GATEHOUSE_SESSION_IDLE": "1h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9000" || c.DB != "/tmp/x.db" || c.SessionIdle != time.Hour {
		t.Fatalf("got %+v", c)
	}
	// Defaults.
	var d serveConfig
	if err := parseFlags(serveFlags(&d), nil, env(nil)); err != nil {
		t.Fatal(err)
	}
	if d.Addr != ":8080" || d.DB != "auth.db" || d.SessionLifetime != 720*time.Hour || d.SessionIdle != 168*time.Hour || d.TrustedProxies != "" {
		t.Fatalf("defaults %+v", d)
	}
}

// Bad values stop the program at start with one clear line.
func TestBadValuesStopWithOneLine(t *testing.T) {
	tmp := t.TempDir()
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-session-lifetime", "soon"}, nil, "-session-lifetime"},
		{nil, map[string]string{"GATEHOUSE_SESSION_IDLE": "x"}, "GATEHOUSE_SESSION_IDLE"},
		{[]string{"-session-idle", "-5m"}, nil, "-session-idle"},
		{[]string{"-addr", "nonsense"}, nil, "-addr"},
		// A port out of range stops the start before the database is
		// opened (checked below: no file).
		{[]string{"-addr", ":99999", "-db", filepath.Join(tmp, "addr.db")}, nil, "-addr"},
		{[]string{"-metrics-addr", "127.0.0.1:70000", "-db", filepath.Join(tmp, "metrics.db")}, nil, "-metrics-addr"},
		{[]string{"-base-url", "ftp://example.com"}, nil, "-base-url"},
		{[]string{"-base-url", "example.com"}, nil, "-base-url"},
		{[]string{"-trusted-proxies", "10.0.0.1,notanip"}, nil, "-trusted-proxies"},
		{[]string{"-no-such-flag"}, nil, "no-such-flag"},
		{[]string{"bogus-command"}, nil, "unknown command"},
		// product.md §14: with PostgreSQL the key file must be named.
		{[]string{"-db", "postgres://gatehouse@127.0.0.1:1/gatehouse"}, nil, "-secret-key-file (GATEHOUSE_SECRET_KEY_FILE) is required"},
		{[]string{"-db", filepath.Join(tmp, "no-such-dir", "auth.db"), "-secret-key-file", "/dev/null"}, nil, "auth.db"},
		// Nobody there: one line, not go-redis's retries too, and no
		// new database file.
		{[]string{"-redis-url", "redis://:hunter2@127.0.0.1:1/0", "-db", filepath.Join(tmp, "redis-test.db")}, nil, "-redis-url"},
		// A Redis URL of the wrong form stops at the flags, before the
		// database file and the no-SMTP warning: nothing but the error.
		{[]string{"-redis-url", "redis://x:99999/0", "-db", filepath.Join(tmp, "redis-port.db")}, nil, "-redis-url"},
		{[]string{"-redis-url", "redis://:hunter2@x:0/0", "-db", filepath.Join(tmp, "redis-port0.db")}, nil, "port"},
		{[]string{"-redis-url", "http://x", "-db", filepath.Join(tmp, "redis-scheme.db")}, nil, "-redis-url"},
		{[]string{"-db", filepath.Join(tmp, "redis-host.db")}, map[string]string{"GATEHOUSE_REDIS_URL": "redis:///0"}, "GATEHOUSE_REDIS_URL"},
		{[]string{"-redis-url", "redis://x/zero", "-db", filepath.Join(tmp, "redis-dbnum.db")}, nil, "database number"},
		// The admin commands that take -redis-url check it the same way.
		{[]string{"user", "list", "-db", filepath.Join(tmp, "user.db"), "-redis-url", "redis://x:99999/0"}, nil, "-redis-url"},
		{[]string{"user", "signout", "-db", filepath.Join(tmp, "user.db"), "-redis-url", "redis://:hunter2@127.0.0.1:1/0", "alice"}, nil, "connection refused"},
	}
	// The form of these is checked with the flags: nothing at all is
	// written before the error.
	quiet := map[string]bool{"redis-port.db": true, "redis-port0.db": true, "redis-scheme.db": true,
		"redis-host.db": true, "redis-dbnum.db": true, "user.db": true}
	for _, tc := range cases {
		var stderr strings.Builder
		err := run(context.Background(), append([]string{}, tc.args...), env(tc.env), nil, io.Discard, &stderr)
		if err == nil {
			t.Errorf("%v %v: no error", tc.args, tc.env)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "hunter2") {
			t.Errorf("%v: the error shows the Redis password: %q", tc.args, msg)
		}
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%v %v: error %q should be one line naming %q", tc.args, tc.env, msg, tc.want)
		}
		if strings.Contains(stderr.String(), "redis client") {
			t.Errorf("%v %v: go-redis's retries were logged besides the error:\n%s", tc.args, tc.env, stderr.String())
		}
		for i, a := range tc.args {
			if a == "-db" && quiet[filepath.Base(tc.args[i+1])] && stderr.Len() > 0 {
				t.Errorf("%v %v: wrote before the error:\n%s", tc.args, tc.env, stderr.String())
			}
		}
	}
	for _, name := range []string{"addr.db", "metrics.db", "redis-test.db", "redis-port.db", "redis-port0.db",
		"redis-scheme.db", "redis-host.db", "redis-dbnum.db"} {
		if _, err := os.Stat(filepath.Join(tmp, name)); err == nil {
			t.Errorf("%s was created by a start that should have stopped at its flags", name)
		}
	}
}

// product.md §1 and §14: a -db postgres:// URL of the wrong form (a port
// out of range, an unknown sslmode, a setting that is not a number, a URL
// that cannot be parsed) stops serve at its flags with one line naming
// -db, as a -redis-url does: nothing is logged before it (not the no-SMTP
// warning), nothing is dialled, and the password is never shown.
func TestBadPostgresURLStopsAtTheFlags(t *testing.T) {
	key := filepath.Join(t.TempDir(), "k")
	for _, tc := range []struct{ url, want string }{
		{"postgres://gh:hunter2@127.0.0.1:99999/gh", "port"},
		{"postgres://gh:hunter2@127.0.0.1:5432/gh?sslmode=bogus", "sslmode"},
		{"postgresql://gh:hunter2@127.0.0.1:5432/gh?pool_max_conns=many", "pool_max_conns"},
		{"postgres://gh:hunt%ZZer2@127.0.0.1:5432/gh", "cannot be parsed"},
	} {
		for _, args := range [][]string{
			{"-addr", "127.0.0.1:0", "-secret-key-file", key, "-db", tc.url},
			{"user", "list", "-db", tc.url},
		} {
			var stderr strings.Builder
			err := run(context.Background(), args, env(nil), nil, io.Discard, &stderr)
			if err == nil {
				t.Errorf("%v: no error", args)
				continue
			}
			msg := err.Error()
			if !strings.Contains(msg, "-db (GATEHOUSE_DB)") || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("%v: error %q should be one line naming -db and %q", args, msg, tc.want)
			}
			if strings.Contains(msg, "hunter2") || strings.Contains(msg, "hunt%ZZer2") || strings.Contains(stderr.String(), "hunter2") {
				t.Errorf("%v: the password is shown: %q", args, msg)
			}
			if stderr.Len() > 0 {
				t.Errorf("%v: wrote before the error:\n%s", args, stderr.String())
			}
		}
	}
	if _, err := os.Stat(key); err == nil {
		t.Error("the key file was created by a start that should have stopped at its flags")
	}
}

// product.md §10: at the first start the secret key file is created
// beside the database (auth.db.key), 32 random bytes, mode 0600.
func TestSecretKeyFileCreatedBesideTheDatabase(t *testing.T) {
	dir := t.TempDir()
	_, stop := startServe(t, filepath.Join(dir, "auth.db"))
	stop()
	info, err := os.Stat(filepath.Join(dir, "auth.db.key"))
	if err != nil || info.Mode().Perm() != 0o600 || info.Size() != 32 {
		t.Fatalf("auth.db.key: %v %v", info, err)
	}
}

// product.md §10: a database used with a key refuses to start without it,
// or with another, in one line, and the server never serves.
func TestStartRefusedWithoutTheDatabasesKey(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "auth.db")
	_, stop := startServe(t, dbPath)
	stop()
	other := filepath.Join(dir, "other.key")
	if err := os.WriteFile(other, bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	// Should the start get through, the server stops after a while
	// instead of serving for ever, and the test fails.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, c := range map[string]struct {
		keyFile, want string
	}{
		"moved away": {filepath.Join(dir, "missing.key"), "is missing"},
		"another":    {other, "not the key this database was used with"},
	} {
		err := run(ctx, []string{"serve", "-addr", "127.0.0.1:0", "-db", dbPath, "-secret-key-file", c.keyFile},
			env(nil), nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line with %q", name, err, c.want)
		}
	}
}

// listenRE finds the address in the "listening" line, text or JSON.
var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)|"msg":"listening","addr":"([^"]+)"`)

// startServe runs `gatehouse serve` in-process and returns its URL and a
// stop function that waits for a clean exit.
func startServe(t *testing.T, dbPath string) (string, func()) {
	t.Helper()
	base, _, stop := startWith(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", dbPath})
	return base, stop
}

// startWith runs the program with args until it logs that it listens, and
// returns its URL, its log and a stop function that waits for a clean
// exit (calling it again does nothing).
func startWith(t *testing.T, args []string) (string, *apptest.LogBuffer, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &apptest.LogBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, env(nil), nil, io.Discard, logs)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listenRE.FindStringSubmatch(logs.String()); m != nil {
			stopped := false
			return "http://" + m[1] + m[2], logs, func() {
				if stopped {
					return
				}
				stopped = true
				cancel()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("serve returned %v", err)
					}
				case <-time.After(20 * time.Second):
					t.Fatal("serve did not stop")
				}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func noRedirects() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func signup(t *testing.T, base, name string) {
	t.Helper()
	r, err := noRedirects().PostForm(base+"/signup", url.Values{"username": {name}, "email": {name + "@example.com"},
		"password": {"correct horse battery"}, "password_confirm": {"correct horse battery"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("signup %s: %d", name, r.StatusCode)
	}
}

func signinStatus(t *testing.T, base, name string) int {
	t.Helper()
	r, err := noRedirects().PostForm(base+"/signin", url.Values{"username": {name}, "password": {"correct horse battery"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	return r.StatusCode
}

// A stop right after the first start, while the OpenID Connect signing
// key is still being made in the background, waits for it: the key is
// stored and the database closed whole after it (the stop once closed the
// database under that write and left the -wal behind).
func TestStopDuringFirstStartStoresTheKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	_, stop := startServe(t, path)
	stop()
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); !os.IsNotExist(err) {
			t.Errorf("%s left after a stop during the first start", suffix)
		}
	}
	raw := apptest.OpenRaw(t, path)
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM settings WHERE name = 'oidc_signing_key'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("signing keys stored: %d (%v), want 1", n, err)
	}
}

// A graceful stop leaves auth.db alone (no -wal, no -shm), and a copy of
// that file serves a new server.
func TestGracefulStopLeavesCompleteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.db")
	base, stop := startServe(t, path)
	signup(t, base, "alice")
	signup(t, base, "bob")
	stop()
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); !os.IsNotExist(err) {
			t.Errorf("%s left after a clean stop", suffix)
		}
	}
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// The copy opens with the key it was used with (kept apart, README).
	base2, _, stop2 := startWith(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", copyPath, "-secret-key-file", path + ".key"})
	defer stop2()
	for _, name := range []string{"alice", "bob"} {
		if s := signinStatus(t, base2, name); s != http.StatusSeeOther {
			t.Errorf("sign-in %s on the copy: %d", name, s)
		}
	}
}

// `gatehouse backup` copies a live database: the copy passes
// integrity_check and serves sign-ins.
func TestBackupCommandWhileServing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	base, stop := startServe(t, path)
	defer stop()
	signup(t, base, "alice")
	dest := filepath.Join(t.TempDir(), "backup.db")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"backup", "-db", path, dest}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", dest)
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	raw.Close()
	base2, _, stop2 := startWith(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", dest, "-secret-key-file", path + ".key"})
	defer stop2()
	if s := signinStatus(t, base2, "alice"); s != http.StatusSeeOther {
		t.Fatalf("sign-in on the backup: %d", s)
	}
	// A second backup to the same file is refused; a missing source too.
	if err := run(context.Background(), []string{"backup", "-db", path, dest}, env(nil), nil, io.Discard, io.Discard); err == nil {
		t.Error("backup overwrote an existing file")
	}
	if err := run(context.Background(), []string{"backup", "-db", filepath.Join(t.TempDir(), "none.db"), dest + "2"}, env(nil), nil, io.Discard, io.Discard); err == nil {
		t.Error("backup of a missing database succeeded")
	}
}

// gatehouse with no command is gatehouse serve, and GATEHOUSE_* variables
// configure it.
func TestNoCommandServes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	base, _, stop := startWith(t, []string{"-addr", "127.0.0.1:0", "-db", path})
	defer stop()
	r, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("healthz %d", r.StatusCode)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not created: %v", err)
	}
}

// product.md §7: "gatehouse backup ... writes its copy with mode 0600, like
// the database", also under the usual umask 022.
func TestSpec7BackupCommandWritesMode0600(t *testing.T) {
	path, _ := newDB(t)
	dest := filepath.Join(t.TempDir(), "backup.db")
	old := syscall.Umask(0o022)
	err := run(context.Background(), []string{"backup", "-db", path, dest}, env(nil), nil, io.Discard, io.Discard)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("backup has mode %03o, want 600", m)
	}
}

// product.md §1: "Bad values (including a base URL with no host or a port
// out of range) stop the program at start with one clear line."
func TestSpec1BaseURLBadPortOrNoHostStops(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{[]string{"-base-url", "https://h:99999"}, nil, []string{"-base-url", "GATEHOUSE_BASE_URL", "port"}},
		{[]string{"-base-url", "https://h:65536"}, nil, []string{"-base-url", "GATEHOUSE_BASE_URL", "port"}},
		{[]string{"-base-url", "https://h:0"}, nil, []string{"-base-url", "GATEHOUSE_BASE_URL", "port"}},
		{[]string{"-base-url", "https://h:"}, nil, []string{"-base-url", "GATEHOUSE_BASE_URL", "port"}},
		{[]string{"-base-url", "https://h:https"}, nil, []string{"-base-url", "GATEHOUSE_BASE_URL", "port"}},
		{[]string{"-base-url", "http://[::1]:70000"}, nil, []string{"-base-url", "GATEHOUSE_BASE_URL", "port"}},
		{nil, map[string]string{"GATEHOUSE_BASE_URL": "https://auth.example.com:99999"}, []string{"-base-url", "GATEHOUSE_BASE_URL", "port"}},
		{[]string{"-base-url", "https://:443"}, nil, []string{"-base-url", "GATEHOUSE_BASE_URL"}}, // no host
	}
	// Cancelled: should a bad value get through, the server stops at once
	// instead of serving for ever.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range cases {
		err := run(ctx, append([]string{"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "auth.db")}, tc.args...),
			env(tc.env), nil, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("%v %v: no error", tc.args, tc.env)
			continue
		}
		msg := err.Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) || strings.Contains(msg, "\n") {
				t.Errorf("%v %v: error %q should be one line naming %q", tc.args, tc.env, msg, w)
			}
		}
	}
	// Ports in range are fine.
	for _, raw := range []string{"https://auth.example.com:8443", "http://[::1]:65535", "http://127.0.0.1:1/"} {
		if _, err := parseBaseURL(raw, ":8080"); err != nil {
			t.Errorf("parseBaseURL(%q): %v", raw, err)
		}
	}
}

// product.md §1: bad values stop the start with one clear line. An
// argument serve does not take (gatehouse serve /var/lib/gatehouse/auth.db,
// a -db forgotten) was ignored: the server started on ./auth.db instead.
func TestServeRefusesExtraArguments(t *testing.T) {
	tmp := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // should it start anyway, it stops at once instead of hanging
	for _, args := range [][]string{
		{"serve", "-db", filepath.Join(tmp, "a.db"), filepath.Join(tmp, "other.db")},
		{"-db", filepath.Join(tmp, "a.db"), "-addr", "127.0.0.1:0", "extra"},
	} {
		var stderr strings.Builder
		err := run(ctx, args, env(nil), nil, io.Discard, &stderr)
		if err == nil {
			t.Errorf("%v: started, no error", args)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "unexpected argument") || strings.Contains(msg, "\n") {
			t.Errorf("%v: error %q should be one line about the unexpected argument", args, msg)
		}
		if stderr.Len() > 0 {
			t.Errorf("%v: wrote before the error:\n%s", args, stderr.String())
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "a.db")); err == nil {
		t.Errorf("a.db was created by a start that should have stopped at its arguments")
	}
}
