// Package pgtest starts a throwaway PostgreSQL cluster for a package's
// tests and hands each test a database of its own on it: real server
// binaries (Debian's postgresql package), no mocks, no Docker.
//
// One cluster serves a whole test binary: it starts at the first URL call
// (so a run that selects no PostgreSQL test starts nothing) and stops when
// the tests end. A package that uses it declares
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// Main stops the server by its PID after the tests. If the test binary
// dies first (a panic, the -timeout, a kill), the kernel kills the server
// with it (the parent-death signal), so no postgres outlives its test.
//
// The cluster runs as the postgres OS user when the tests run as root
// (the server refuses to run as root), else as the current user. It
// listens on 127.0.0.1 at a free port and on a Unix socket in its own
// temporary directory, and asks for a password (SCRAM) on both: nothing
// else on the machine can use it. fsync is off: the data is thrown away.
//
// Without the server binaries the tests skip with a message, and fail
// when the CI variable is set, so CI cannot pass by skipping.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Role is the database role the URLs sign in as: an ordinary role that
// owns its databases, as a real deployment's would, not the superuser.
const Role = "gatehouse"

var (
	mainRunning atomic.Bool
	seq         atomic.Int64

	startOnce sync.Once
	current   *cluster
	startErr  error
)

// cluster is one running server.
type cluster struct {
	dir      string // temporary directory: data, socket, log
	bin      string // directory of initdb, postgres and pg_dump
	port     int
	password string // Role's password
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the postmaster has exited
	admin    *pgxpool.Pool // the superuser, on database postgres
}

// Main runs the package's tests and then stops the cluster, if one was
// started. Call it from TestMain and pass its result to os.Exit.
func Main(m *testing.M) int {
	mainRunning.Store(true)
	code := m.Run()
	if current != nil {
		if err := current.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// URL returns the URL of a new, empty database on the package's cluster,
// starting the cluster on first use. The database is dropped when t ends
// (after t's other cleanups, which are registered later and so run first).
// Each call makes another database, so one test can have several.
func URL(t testing.TB) string {
	t.Helper()
	if !mainRunning.Load() {
		t.Fatal("pgtest: the package needs func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }, which stops the cluster after the tests")
	}
	bin, err := binDir()
	if err != nil {
		missing(t, err)
	}
	startOnce.Do(func() { current, startErr = start(bin) })
	if startErr != nil {
		t.Fatalf("pgtest: start PostgreSQL: %v", startErr)
	}
	c := current
	name := fmt.Sprintf("gatehouse_test_%d", seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.admin.Exec(ctx, `CREATE DATABASE `+name+` OWNER `+Role); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends connections a test left open.
		if _, err := c.admin.Exec(ctx, `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return c.url(name)
}

// Dump returns pg_dump's plain SQL output of the database at dbURL (a URL
// from URL): everything a copy of the database would give away. The
// \restrict and \unrestrict lines that pg_dump 15.14 and later write carry
// a random key each time; Dump leaves them out, so that two dumps of the
// same database are equal.
func Dump(ctx context.Context, dbURL string) ([]byte, error) {
	c := current
	if c == nil {
		return nil, errors.New("pgtest: no cluster running")
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, err
	}
	pw, _ := u.User.Password()
	u.User = url.User(u.User.Username())
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "pg_dump"), "--no-password", "--dbname="+u.String())
	// The password goes in the environment, not in the arguments that
	// every local user can read in /proc.
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pw)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pg_dump: %v: %s", err, stderr.String())
	}
	lines := bytes.SplitAfter(out, []byte("\n"))
	kept := lines[:0]
	for _, l := range lines {
		if !bytes.HasPrefix(l, []byte(`\restrict `)) && !bytes.HasPrefix(l, []byte(`\unrestrict `)) {
			kept = append(kept, l)
		}
	}
	return bytes.Join(kept, nil), nil
}

// missing skips the test, or fails it under CI.
func missing(t testing.TB, err error) {
	t.Helper()
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatalf("pgtest: %v (CI is set, so this is a failure, not a skip)", err)
	}
	t.Skipf("pgtest: %v; skipping", err)
}

// binDir finds the server binaries: the newest of Debian's
// /usr/lib/postgresql/N/bin, else initdb on PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or on PATH; install them with apt-get install postgresql")
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// start makes and starts a cluster.
func start(bin string) (*cluster, error) {
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	sweep()
	dir, err := os.MkdirTemp("", dirPattern)
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, bin: bin, password: randomHex()}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	superPassword := randomHex()
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(superPassword+"\n"), 0o600); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"),
		"--pgdata="+filepath.Join(dir, "data"), "--username=postgres", "--pwfile="+pwfile,
		"--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
		"--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.Env = serverEnv()
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	os.Remove(pwfile)

	// A free port is only free until someone takes it: if the server
	// cannot bind, try another.
	for attempt := 1; ; attempt++ {
		err = c.run(cred)
		if err == nil {
			break
		}
		if attempt == 5 || !strings.Contains(err.Error(), "could not bind") {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgxpool.New(ctx, c.superURL(superPassword))
	if err == nil {
		c.admin = admin
		// The password is hex: nothing to quote.
		_, err = admin.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, Role, c.password))
	}
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("connect as superuser: %v", err)
	}
	ok = true
	return c, nil
}

// dirPattern names the clusters' temporary directories.
const dirPattern = "gatehouse-pgtest-"

// sweep removes the directories of clusters whose test binary was killed
// before it could stop them (the kernel killed the server, but nobody
// removed its files): those whose postmaster.pid names a process that no
// longer exists, and those without one that are older than an hour (a
// cluster still being made has none yet, for seconds).
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPattern+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid"))
		if err != nil {
			if fi, err := os.Stat(d); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.RemoveAll(d)
			}
			continue
		}
		first, _, _ := strings.Cut(string(b), "\n")
		pid, err := strconv.Atoi(strings.TrimSpace(first))
		if err == nil && pid > 0 && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

// serverUser is the user the server runs as: the postgres OS user when
// the tests run as root (nil credentials otherwise: the current user).
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("the tests run as root and the server may not; no postgres user to run it as: %v", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

func serverEnv() []string {
	return []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
}

// run starts the postmaster on a free port and waits until it accepts
// connections.
func (c *cluster) run(cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c.port = port
	logf, err := os.Create(filepath.Join(c.dir, "server.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(c.bin, "postgres"),
		"-D", filepath.Join(c.dir, "data"),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories="+c.dir,
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "log_min_messages=warning",
		// Expected errors (unique violations of duplicate sign-ups) are
		// not worth a log line each.
		"-c", "log_min_error_statement=panic")
	cmd.Dir = c.dir
	cmd.Env = serverEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}

	// The kernel sends the parent-death signal when the thread that
	// started the child ends, not the process: this goroutine keeps its
	// thread locked and alive for as long as the server runs.
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %v", err)
	}
	c.cmd, c.exited = cmd, exited

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("postgres exited at start:\n%s", c.log())
		default:
		}
		conn, err := net.DialTimeout("tcp", c.addr(), time.Second)
		if err == nil {
			conn.Close()
			return c.waitReady(deadline)
		}
		if time.Now().After(deadline) {
			c.kill()
			return fmt.Errorf("postgres did not listen within a minute:\n%s", c.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReady waits until the server answers queries (it listens before it
// has finished starting up).
func (c *cluster) waitReady(deadline time.Time) error {
	for {
		cmd := exec.Command(filepath.Join(c.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port))
		if cmd.Run() == nil {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited at start:\n%s", c.log())
		default:
		}
		if time.Now().After(deadline) {
			c.kill()
			return fmt.Errorf("postgres was not ready within a minute:\n%s", c.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop closes the superuser's pool, ends the server and removes its
// directory.
func (c *cluster) stop() error {
	if c.admin != nil {
		c.admin.Close()
	}
	err := c.kill()
	if rerr := os.RemoveAll(c.dir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// kill ends the server by its PID with an immediate shutdown (SIGQUIT:
// the data is thrown away, so nothing is worth a checkpoint), then SIGKILL
// if it lingers, and waits until it has exited.
func (c *cluster) kill() error {
	if c.cmd == nil || c.cmd.Process == nil {
		return nil
	}
	c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.exited:
		return nil
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("postgres (pid %d) ignored SIGQUIT for 10 s and was killed", c.cmd.Process.Pid)
	}
}

func (c *cluster) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// url is the URL of database name for Role.
func (c *cluster) url(name string) string {
	u := url.URL{Scheme: "postgres", Host: c.addr(), Path: "/" + name, RawQuery: "sslmode=disable"}
	u.User = url.UserPassword(Role, c.password)
	return u.String()
}

func (c *cluster) superURL(password string) string {
	u := url.URL{Scheme: "postgres", Host: c.addr(), Path: "/postgres", RawQuery: "sslmode=disable",
		User: url.UserPassword("postgres", password)}
	return u.String()
}

// log returns the end of the server's log, for error messages.
func (c *cluster) log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Cluster is a throwaway cluster started outside a test (the bench).
type Cluster struct{ c *cluster }

// Launch starts a cluster like the tests' own; Close stops it. A missing
// PostgreSQL is an error, not a skip.
func Launch() (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	c, err := start(bin)
	if err != nil {
		return nil, err
	}
	return &Cluster{c: c}, nil
}

// NewDatabase creates an empty database owned by the test role and
// returns its URL.
func (c *Cluster) NewDatabase(ctx context.Context, name string) (string, error) {
	if _, err := c.c.admin.Exec(ctx, `CREATE DATABASE `+name+` OWNER `+Role); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return c.c.url(name), nil
}

// Close stops the cluster.
func (c *Cluster) Close() error { return c.c.stop() }
