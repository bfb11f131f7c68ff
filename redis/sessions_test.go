package redis_test

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/db"
	"gatehouse/handlers"
	"gatehouse/internal/apptest"
	"gatehouse/password"
	"gatehouse/redis"
	"gatehouse/secretkey"
)

// The wrapper is what handlers.New takes as its session store.
var _ handlers.SessionStore = (*redis.SessionStore)(nil)

func TestSessionCommitFindDelete(t *testing.T) {
	t.Parallel()
	_, c, raw := start(t)
	s := c.SessionStore()
	ctx := context.Background()
	if _, ok, err := s.FindCtx(ctx, "tok-1"); ok || err != nil {
		t.Fatalf("find before commit: %v %v", ok, err)
	}
	if err := s.CommitCtx(ctx, "tok-1", []byte("data one"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	b, ok, err := s.FindCtx(ctx, "tok-1")
	if err != nil || !ok || string(b) != "data one" {
		t.Fatalf("find = %q %v %v", b, ok, err)
	}
	// The context-free methods (scs.Store) reach the same data.
	if b, ok, err := s.Find("tok-1"); err != nil || !ok || string(b) != "data one" {
		t.Fatalf("Find = %q %v %v", b, ok, err)
	}
	if err := s.Commit("tok-1", []byte("data two"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := raw.Get(ctx, "gatehouse:session:"+db.HashToken("tok-1")).Val(); got != "data two" {
		t.Errorf("stored under the token's hash: %q, want data two", got)
	}
	if err := s.DeleteCtx(ctx, "tok-1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.FindCtx(ctx, "tok-1"); ok {
		t.Error("found after DeleteCtx")
	}
	s.Commit("tok-2", []byte("x"), time.Now().Add(time.Hour))
	if err := s.Delete("tok-2"); err != nil {
		t.Fatal(err)
	}
	if n := raw.DBSize(ctx).Val(); n != 0 {
		t.Errorf("%d keys left after deleting every session", n)
	}
}

// A session's key expires at the session's deadline: Redis, not a cleanup
// job, drops it.
func TestSessionExpiryHonoured(t *testing.T) {
	t.Parallel()
	_, c, raw := start(t)
	s := c.SessionStore()
	ctx := context.Background()

	s.CommitCtx(ctx, "long", []byte("x"), time.Now().Add(time.Hour))
	ttl := raw.PTTL(ctx, "gatehouse:session:"+db.HashToken("long")).Val()
	if ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("TTL %v, want just under 1h", ttl)
	}

	s.CommitCtx(ctx, "short", []byte("x"), time.Now().Add(200*time.Millisecond))
	if _, ok, _ := s.FindCtx(ctx, "short"); !ok {
		t.Fatal("short session not found before its expiry")
	}
	time.Sleep(300 * time.Millisecond)
	if _, ok, _ := s.FindCtx(ctx, "short"); ok {
		t.Error("short session found after its expiry")
	}

	// An expiry already past removes the session rather than keeping it
	// with no expiry at all.
	s.CommitCtx(ctx, "ended", []byte("x"), time.Now().Add(time.Hour))
	if err := s.CommitCtx(ctx, "ended", []byte("x"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.FindCtx(ctx, "ended"); ok {
		t.Error("session committed with a past expiry is still found")
	}
	for k := range dump(t, raw) {
		if ttl := raw.PTTL(ctx, k).Val(); ttl < 0 {
			t.Errorf("key %s has no expiry (%v)", k, ttl)
		}
	}
}

func TestDeleteHashed(t *testing.T) {
	t.Parallel()
	_, c, _ := start(t)
	s := c.SessionStore()
	ctx := context.Background()
	for _, tok := range []string{"a", "b", "c"} {
		s.CommitCtx(ctx, tok, []byte(tok), time.Now().Add(time.Hour))
	}
	if err := s.DeleteHashed(ctx, nil); err != nil {
		t.Fatalf("no hashes: %v", err)
	}
	gone := db.HashToken("never-committed")
	if err := s.DeleteHashed(ctx, []string{db.HashToken("a"), db.HashToken("c"), gone}); err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]bool{"a": false, "b": true, "c": false} {
		if _, ok, _ := s.FindCtx(ctx, tok); ok != want {
			t.Errorf("session %s found %v, want %v", tok, ok, want)
		}
	}
}

// The real application, with its session data in Redis: sign up, sign out,
// sign in on two browsers, end the other one from the first. Every token
// the browsers ever held is then looked for in every key and value in
// Redis, and none is there; the ended sessions' data is gone.
func TestNoRawTokenInRedis(t *testing.T) {
	t.Parallel()
	_, c, raw := start(t)
	store, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "auth.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	base, _ := url.Parse("http://" + ts.Listener.Addr().String())
	key, err := secretkey.LoadFor(context.Background(), store, filepath.Join(t.TempDir(), "auth.db.key"))
	if err != nil {
		t.Fatal(err)
	}
	app, err := handlers.New(handlers.Config{
		SecretKey:       key,
		BaseURL:         base,
		SessionLifetime: 720 * time.Hour,
		SessionIdle:     168 * time.Hour,
		Logger:          slog.New(slog.DiscardHandler),
	}, handlers.Backend{Store: store, Sessions: c.SessionStore(), Throttle: store}, password.NewHasher(apptest.Cheap, 2))
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = app.Handler()
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		app.Wait()
		store.Close()
	})
	srv := &apptest.Server{URL: ts.URL}

	var tokens []string
	seen := func(b *apptest.Client) {
		if tok := b.Cookie("session"); tok != "" && !slices.Contains(tokens, tok) {
			tokens = append(tokens, tok)
		}
	}
	signedIn := func(b *apptest.Client) bool {
		return b.Get("/dashboard").StatusCode == http.StatusOK
	}

	first := srv.NewClient(t)
	first.Get("/signup")
	seen(first)
	first.Signup("alice", "alice@example.com", "a long enough password")
	seen(first)
	if !signedIn(first) {
		t.Fatal("not signed in after sign-up")
	}
	first.Post("/signout", url.Values{})
	seen(first)
	first.Signin("alice", "a long enough password")
	seen(first)
	second := srv.NewClient(t)
	second.Signin("alice", "a long enough password")
	seen(second)
	if !signedIn(first) || !signedIn(second) {
		t.Fatal("two browsers not both signed in")
	}
	secondToken := second.Cookie("session")
	r := first.Post("/account/sessions/revoke", url.Values{"id": {"others"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out everywhere else: %d", r.StatusCode)
	}
	seen(first)
	if !signedIn(first) || signedIn(second) {
		t.Fatal("signing out everywhere else did not end just the other session")
	}
	seen(second)

	if len(tokens) < 4 {
		t.Fatalf("only %d tokens seen; the test did not exercise renewals", len(tokens))
	}
	keys := dump(t, raw)
	if len(keys) == 0 {
		t.Fatal("nothing in Redis: the sessions were not stored there")
	}
	for k, vals := range keys {
		for _, tok := range tokens {
			if strings.Contains(k, tok) {
				t.Errorf("key %q holds a raw session token", k)
			}
			for _, v := range vals {
				if strings.Contains(v, tok) {
					t.Errorf("value of %q holds a raw session token", k)
				}
			}
		}
	}
	// The ended session's data is gone (DeleteHashed), and the live one
	// is stored under its hash.
	if _, ok := keys["gatehouse:session:"+db.HashToken(secondToken)]; ok {
		t.Error("the other browser's session data is still in Redis")
	}
	if _, ok := keys["gatehouse:session:"+db.HashToken(first.Cookie("session"))]; !ok {
		t.Errorf("the live session is not stored under its token's hash; keys: %v", slices.Collect(maps.Keys(keys)))
	}
}
