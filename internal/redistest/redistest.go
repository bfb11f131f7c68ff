// Package redistest starts a real, throwaway redis-server for tests: on a
// free loopback port, without persistence, in a temporary directory, and
// stopped by its process id when the test ends. A test may stop it and
// start it again on the same port, to see what Gatehouse does while Redis
// is down (product.md §14: /healthz answers 503, then 200 when it returns).
//
// Without redis-server (Debian package redis-server) the test is skipped
// with a message, or fails when the environment variable CI is set: in CI
// a missing server must not pass as a green run.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options change the server a test gets; the zero value is the defaults.
type Options struct {
	// Password, when set, is required of every client (requirepass), and
	// URL carries it.
	Password string
}

// Server is a running (or stopped) redis-server.
type Server struct {
	// URL is redis://[:PASSWORD@]127.0.0.1:PORT/0, what -redis-url takes.
	URL string
	// Addr is 127.0.0.1:PORT.
	Addr string

	bin  string
	dir  string
	port int
	opts Options

	mu   sync.Mutex
	proc *os.Process
	done chan struct{} // closed when proc has exited and been reaped
}

// Start runs a redis-server for the length of the test: a fresh one, so
// tests never see each other's keys.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := lookPath(t)
	s := &Server{bin: bin, dir: t.TempDir(), opts: opts}
	t.Cleanup(func() { s.stop(t) })
	// Another process may take the free port between our probe and
	// redis-server's bind; a few tries make that a non-event.
	var err error
	for range 5 {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	u := url.URL{Scheme: "redis", Host: s.Addr, Path: "/0"}
	if opts.Password != "" {
		u.User = url.UserPassword("", opts.Password)
	}
	s.URL = u.String()
	return s
}

// lookPath finds redis-server, or skips the test (fails it under CI).
func lookPath(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err == nil {
		return bin
	}
	const msg = "redistest: redis-server not found on PATH; install the Debian package redis-server to run the Redis tests"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so this fails instead of skipping)")
	}
	t.Skip(msg)
	return ""
}

// Stop stops the server (SIGTERM, then SIGKILL after five seconds) and
// waits until it has exited, so its port refuses connections at once.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop(t)
}

// Restart starts the stopped server again on the same port and waits
// until it answers. It starts empty: nothing is persisted.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("redistest: restart: %v", err)
	}
}

// start runs redis-server on s.port and waits until it answers.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return fmt.Errorf("redis-server on port %d is already running", s.port)
	}
	logPath := filepath.Join(s.dir, "redis.log")
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", logPath,
		"--loglevel", "warning",
	}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password)
	}
	cmd := exec.Command(s.bin, args...)
	// If the test binary dies (a timeout's panic, a kill), the kernel
	// kills redis-server too rather than leaving it bound to the port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	done := make(chan struct{})
	// Pdeathsig fires when the thread that started the process exits, not
	// the process: this goroutine keeps its thread until the server exits.
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(done)
			return
		}
		started <- nil
		cmd.Wait()
		close(done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.proc, s.done = cmd.Process, done
	if err := waitReady(s.port, done, 10*time.Second); err != nil {
		s.proc.Kill()
		<-done
		s.proc, s.done = nil, nil
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("redis-server on port %d: %v\n%s", s.port, err, log)
	}
	return nil
}

// stop ends the process by its id and reaps it; a stopped server is left
// as it is.
func (s *Server) stop(t testing.TB) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	s.proc.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Logf("redistest: redis-server pid %d ignored SIGTERM; killing it", s.proc.Pid)
		s.proc.Kill()
		<-s.done
	}
	s.proc, s.done = nil, nil
}

// waitReady waits until a connection to port gets an answer to PING. Any
// answer will do: with a password the answer is NOAUTH, and that too means
// the server is up.
func waitReady(port int, exited <-chan struct{}, limit time.Duration) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-exited:
			return fmt.Errorf("exited before it answered")
		default:
		}
		if pingOnce(addr) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %v", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pingOnce(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "+") || strings.HasPrefix(line, "-"))
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Launch starts a redis-server outside a test (the bench), in dir; Close
// stops it. It does not skip: a missing redis-server is an error.
func Launch(dir string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found on PATH; install the Debian package redis-server")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir}
	for range 5 {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	s.URL = (&url.URL{Scheme: "redis", Host: s.Addr, Path: "/0"}).String()
	return s, nil
}

// Close stops a server from Launch.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	s.proc.Kill()
	<-s.done
	s.proc, s.done = nil, nil
}
