package redistest_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/redistest"
)

// send writes one inline command and returns the first line of the reply,
// or the dial error.
func send(t *testing.T, addr, cmd string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.Options{})
	if !strings.HasPrefix(s.URL, "redis://127.0.0.1:") || !strings.HasSuffix(s.URL, "/0") {
		t.Errorf("URL = %q", s.URL)
	}
	if got, err := send(t, s.Addr, "PING"); err != nil || got != "+PONG\r\n" {
		t.Fatalf("PING = %q, %v", got, err)
	}
	if _, err := send(t, s.Addr, "SET k v"); err != nil {
		t.Fatal(err)
	}

	s.Stop(t)
	if _, err := send(t, s.Addr, "PING"); err == nil {
		t.Fatal("PING answered after Stop")
	}

	s.Restart(t)
	if got, err := send(t, s.Addr, "PING"); err != nil || got != "+PONG\r\n" {
		t.Fatalf("PING after Restart = %q, %v", got, err)
	}
	if got, _ := send(t, s.Addr, "EXISTS k"); got != ":0\r\n" {
		t.Errorf("EXISTS k after restart = %q, want :0 (nothing is persisted)", got)
	}
}

func TestNoPersistence(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.Options{})
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	c.Write([]byte("CONFIG GET save\r\nCONFIG GET appendonly\r\nCONFIG GET bind\r\n"))
	var lines []string
	for range 30 { // three arrays of two bulk strings: *2, $n, name, $n, value
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(l, "*") && !strings.HasPrefix(l, "$") {
			lines = append(lines, strings.TrimSpace(l))
		}
		if len(lines) == 6 {
			break
		}
	}
	want := []string{"save", "", "appendonly", "no", "bind", "127.0.0.1"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("config = %q, want %q", lines, want)
	}
}

func TestPassword(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.Options{Password: "s3cret"})
	if !strings.HasPrefix(s.URL, "redis://:s3cret@127.0.0.1:") {
		t.Errorf("URL = %q, want the password in it", s.URL)
	}
	if got, _ := send(t, s.Addr, "PING"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Errorf("PING without AUTH = %q, want NOAUTH", got)
	}
}

func TestServersAreSeparate(t *testing.T) {
	t.Parallel()
	a := redistest.Start(t, redistest.Options{})
	b := redistest.Start(t, redistest.Options{})
	if a.Addr == b.Addr {
		t.Fatalf("two servers on one address %s", a.Addr)
	}
	send(t, a.Addr, "SET k v")
	if got, _ := send(t, b.Addr, "EXISTS k"); got != ":0\r\n" {
		t.Errorf("key set on one server seen on the other: %q", got)
	}
}
