package redis_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/redistest"
	"gatehouse/redis"
)

func TestOpenPings(t *testing.T) {
	t.Parallel()
	srv, c, _ := start(t)
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.String() != srv.URL {
		t.Errorf("String() = %q, want %q", c.String(), srv.URL)
	}
}

func TestOpenWithPassword(t *testing.T) {
	t.Parallel()
	const pw = "correct-horse-battery"
	srv := redistest.Start(t, redistest.Options{Password: pw})
	c, err := redis.Open(context.Background(), srv.URL)
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	defer c.Close()
	if strings.Contains(c.String(), pw) {
		t.Errorf("String() = %q shows the password", c.String())
	}
}

// A wrong password, a URL that does not parse, a server that is not there:
// each stops the start with one clear line that never shows the password.
func TestOpenErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	const pw = "hunter2-but-longer"
	srv := redistest.Start(t, redistest.Options{Password: "the-right-one"})
	down := redistest.Start(t, redistest.Options{})
	downAddr := down.Addr
	down.Stop(t)
	for _, tc := range []struct {
		name, url, want string
	}{
		{"wrong password", "redis://:" + pw + "@" + srv.Addr + "/0", "WRONGPASS"},
		{"no password", "redis://" + srv.Addr + "/0", "NOAUTH"},
		{"bad port", "redis://:" + pw + "@127.0.0.1:notaport/0", "cannot be parsed"},
		{"bad database", "redis://:" + pw + "@" + srv.Addr + "/zero", "invalid database number"},
		{"unknown option", "redis://:" + pw + "@" + srv.Addr + "/0?" + pw + "=1", "unexpected option"},
		{"wrong scheme", "http://:" + pw + "@" + srv.Addr + "/0", "must be redis:// or rediss://"},
		{"nobody there", "redis://:" + pw + "@" + downAddr + "/0", "connection refused"},
		{"no TLS there", "rediss://:" + pw + "@" + srv.Addr + "/0", "no answer in time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Long enough for go-redis's retries of a refused dial; the
			// server without TLS never answers, so it gets less.
			wait := 5 * time.Second
			if strings.HasPrefix(tc.url, "rediss:") {
				wait = time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			c, err := redis.Open(ctx, tc.url)
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if strings.Contains(msg, pw) {
				t.Errorf("error shows the password: %s", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want it to contain %q", msg, tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is more than one line: %q", msg)
			}
			t.Log(msg)
		})
	}
}

// CheckURL judges the form alone, connecting to nothing (product.md §1):
// a port out of range, no host or a database that is not a number is an
// error at once, never a dial that fails after go-redis's retries.
func TestCheckURL(t *testing.T) {
	t.Parallel()
	const pw = "hunter2-but-longer"
	for _, ok := range []string{
		"redis://x", "redis://x:6379/0", "rediss://:" + pw + "@cache.example:1/15", "redis://user:" + pw + "@[::1]:65535/3",
		"redis://x/", "redis://x:6379/0?dial_timeout=3s",
	} {
		if err := redis.CheckURL(ok); err != nil {
			t.Errorf("CheckURL(%q): %v", ok, err)
		}
	}
	for _, tc := range []struct{ url, want string }{
		{"redis://x:99999/0", "port must be a number from 1 to 65535"},
		{"redis://:" + pw + "@x:0/0", "port must be a number from 1 to 65535"},
		{"redis://x:65536", "port must be a number from 1 to 65535"},
		{"redis://x:notaport/0", "cannot be parsed"},
		{"redis:///0", "names no host"},
		{"redis://:" + pw + "@:6379/0", "names no host"},
		{"http://x", "must be redis:// or rediss://"},
		{"x:6379", "must be redis:// or rediss://"},
		{"redis://x/zero", "invalid database number"},
		{"redis://x/0?nonsense=1", "unexpected option"},
	} {
		err := redis.CheckURL(tc.url)
		if err == nil {
			t.Errorf("CheckURL(%q): no error", tc.url)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, pw) || strings.Contains(msg, "\n") {
			t.Errorf("CheckURL(%q) = %q, want one line with %q and no password", tc.url, msg, tc.want)
		}
	}
}

// A first ping that fails is said once, by Open's error: go-redis's line
// for each failed dial of its retries does not reach the log as well.
// (Not parallel: go-redis has one logger per process.)
func TestOpenFailureNotLogged(t *testing.T) {
	var buf bytes.Buffer
	redis.SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { redis.SetLogger(slog.New(slog.DiscardHandler)) })
	down := redistest.Start(t, redistest.Options{})
	addr := down.Addr
	down.Stop(t)
	if c, err := redis.Open(context.Background(), "redis://"+addr+"/0"); err == nil {
		c.Close()
		t.Fatal("Open succeeded with nobody there")
	} else if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q, want connection refused", err)
	}
	if buf.Len() > 0 {
		t.Errorf("the failed Open was logged besides its error:\n%s", buf.String())
	}
}

// go-redis's own complaints go to the application's log. (Not parallel:
// go-redis has one logger per process.)
func TestSetLogger(t *testing.T) {
	var buf bytes.Buffer
	redis.SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { redis.SetLogger(slog.New(slog.DiscardHandler)) })
	srv, c, _ := start(t)
	srv.Stop(t)
	c.Ping(context.Background())
	if got := buf.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "connection refused") {
		t.Errorf("log = %q, want a warning about the refused connection", got)
	}
}

// /healthz reads Ping: it fails while Redis is down and succeeds again,
// on the same Client, once Redis is back.
func TestPingFollowsTheServer(t *testing.T) {
	t.Parallel()
	srv, c, _ := start(t)
	ctx := context.Background()
	srv.Stop(t)
	began := time.Now()
	if err := c.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with Redis stopped")
	} else if strings.Contains(err.Error(), "\n") {
		t.Errorf("Ping error is more than one line: %q", err)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("Ping with Redis stopped took %v", d)
	}
	srv.Restart(t)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping after Redis came back: %v", err)
	}
	// The stores work again too.
	if err := c.SessionStore().CommitCtx(ctx, "tok", []byte("x"), time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("commit after Redis came back: %v", err)
	}
}
