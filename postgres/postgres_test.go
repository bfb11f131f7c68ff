package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/handlers"
	"gatehouse/internal/pgtest"
	"gatehouse/internal/storetest"
	"gatehouse/postgres"
	"gatehouse/throttle"
)

// *postgres.Store is a drop-in for *db.Store wherever storage is used.
var (
	_ handlers.Store        = (*postgres.Store)(nil)
	_ account.Store         = (*postgres.Store)(nil)
	_ throttle.Store        = (*postgres.Store)(nil)
	_ handlers.SessionStore = (*postgres.SessionStore)(nil)
	_ scs.CtxStore          = (*postgres.SessionStore)(nil)
	_ storetest.Store       = pgStore{}
	// The admin commands' look-ups (user.go).
	_ interface {
		ListUsers(ctx context.Context) ([]*db.User, error)
		UserByUsername(ctx context.Context, username string) (*db.User, error)
		CountUsers(ctx context.Context) (int, error)
	} = (*postgres.Store)(nil)
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// open opens a migrated store on a new database.
func open(t *testing.T) (*postgres.Store, string) {
	t.Helper()
	url := pgtest.URL(t)
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, url
}

// raw connects to the database at url without the store, as an operator
// with psql would.
func raw(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// pgStore is the PostgreSQL backend as the shared behaviour tests see it.
type pgStore struct {
	*postgres.Store
	url string
}

func (s pgStore) Sessions() storetest.SessionStore { return s.SessionStore() }

// Dump is pg_dump's output: what a copy of the database gives away.
func (s pgStore) Dump(ctx context.Context) ([]byte, error) { return pgtest.Dump(ctx, s.url) }

func (s pgStore) SessionDataRows(ctx context.Context) (int, error) {
	c, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n int
	err = c.QueryRow(ctx, `SELECT count(*) FROM sessions`).Scan(&n)
	return n, err
}

// TestStoreBehaviour runs the behaviour tests every backend passes, each
// on a database of its own.
func TestStoreBehaviour(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, url := open(t)
		return pgStore{Store: s, url: url}
	})
}

func schemaVersion(t *testing.T, c *pgx.Conn) int {
	t.Helper()
	var v int
	if err := c.QueryRow(t.Context(), `SELECT version FROM gatehouse_schema`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// product.md §14: instances may start together on an empty database; the
// advisory lock lets one migrate while the others wait, then find nothing
// to do.
func TestOpenTogetherOnEmptyDatabase(t *testing.T) {
	url := pgtest.URL(t)
	const n = 8
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	c := raw(t, url)
	if got, want := schemaVersion(t, c), postgres.SchemaVersion(); got != want || want < 1 {
		t.Errorf("schema version %d, want %d", got, want)
	}
	var rows int
	if err := c.QueryRow(t.Context(), `SELECT count(*) FROM gatehouse_schema`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("gatehouse_schema has %d rows, %v; want 1", rows, err)
	}
	// Every instance works on the one schema.
	for i, s := range stores {
		name := fmt.Sprintf("user%d", i)
		if _, err := s.CreateUser(t.Context(), name, name+"@example.com", "h", time.Now()); err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	if n, _ := stores[0].CountUsers(t.Context()); n != len(stores) {
		t.Errorf("users = %d, want %d", n, len(stores))
	}
}

// A restart keeps the data and migrates nothing again.
func TestMigrationsFreshAndRestart(t *testing.T) {
	ctx := t.Context()
	s, url := open(t)
	if _, err := s.CreateUser(ctx, "alice", "alice@example.com", "hash", time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	if n, _ := s2.CountUsers(ctx); n != 1 {
		t.Fatalf("users after restart = %d, want 1", n)
	}
	if got := schemaVersion(t, raw(t, url)); got != postgres.SchemaVersion() {
		t.Errorf("schema version %d, want %d", got, postgres.SchemaVersion())
	}
}

// product.md §1, §14: a database from a newer Gatehouse is refused with a
// clear message and left exactly as it was.
func TestNewerSchemaRefusedUntouched(t *testing.T) {
	ctx := t.Context()
	s, url := open(t)
	if _, err := s.CreateUser(ctx, "alice", "alice@example.com", "hash", time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	future := postgres.SchemaVersion() + 5
	c := raw(t, url)
	if _, err := c.Exec(ctx, fmt.Sprintf(`UPDATE gatehouse_schema SET version = %d; CREATE TABLE future (x int)`, future)); err != nil {
		t.Fatal(err)
	}
	before, err := pgtest.Dump(ctx, url)
	if err != nil {
		t.Fatal(err)
	}

	_, err = postgres.Open(ctx, url)
	if !errors.Is(err, db.ErrNewerSchema) {
		t.Fatalf("Open = %v, want ErrNewerSchema", err)
	}
	for _, want := range []string{"newer", fmt.Sprint(future), fmt.Sprint(postgres.SchemaVersion())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q should contain %q", err, want)
		}
	}
	after, err := pgtest.Dump(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("a database from a newer version was modified")
	}
	if got := schemaVersion(t, c); got != future {
		t.Errorf("schema version %d, want %d", got, future)
	}
}

// Only database URLs are accepted, and a failure to connect names the
// server but never repeats the password.
func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	for _, u := range []string{"auth.db", "/var/lib/gatehouse/auth.db", "mysql://u:p@host/db", "file:auth.db", "host=localhost dbname=x"} {
		if s, err := postgres.Open(ctx, u); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", u)
		}
	}
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = postgres.Open(ctx, "postgresql://gatehouse:s3cret-pw@"+addr+"/gatehouse?sslmode=disable&connect_timeout=5")
	if err == nil {
		t.Fatal("Open of a server that is not there succeeded")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("the error repeats the password: %v", err)
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), `"gatehouse"`) {
		t.Errorf("the error %q should name the database and the server", err)
	}
}

// product.md §14: two instances share throttle counts; the advisory lock
// per key holds across pools as it does within one. Large pools, so that
// many takes are really in flight at once, and a few rounds.
func TestTakeEventAcrossInstances(t *testing.T) {
	url := pgtest.URL(t) + "&pool_max_conns=20"
	var instances [2]*postgres.Store
	for i := range instances {
		s, err := postgres.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		instances[i] = s
	}
	const rounds, takers, limit = 10, 40, 3
	now := time.Now().UnixNano()
	for round := range rounds {
		key := db.HashToken(fmt.Sprintf("signin\x00user%d", round))
		var wg sync.WaitGroup
		var taken atomic.Int32
		start := make(chan struct{})
		for i := range takers {
			s := instances[i%2]
			wg.Go(func() {
				<-start
				ok, _, err := s.TakeEvent(t.Context(), key, now+int64(i), now-int64(time.Hour), limit)
				if err != nil {
					t.Error(err)
				}
				if ok {
					taken.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := taken.Load(); got != limit {
			t.Errorf("round %d: %d of %d takes on two instances got through, want %d", round, got, takers, limit)
		}
	}
}

// Ending a session by any path removes its scs row, also an operator's
// DELETE of the account by hand (the trigger through the cascade).
func TestTriggerRemovesSessionData(t *testing.T) {
	ctx := t.Context()
	s, url := open(t)
	now := time.Now()
	u, err := s.CreateUser(ctx, "alice", "alice@example.com", "h", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSession(ctx, db.NewSession{UserID: u.ID, PasswordHash: "h", Token: "tok", Now: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	store := s.SessionStore()
	if err := store.Commit("tok", []byte("data"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw(t, url).Exec(ctx, `DELETE FROM users`); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := store.Find("tok"); found {
		t.Error("session data outlived its account")
	}
}

// Through scs itself: the session manager uses the wrapper's
// context-taking methods, and the row it writes is keyed by the SHA-256 of
// the cookie's token.
func TestSessionManagerStoresHashes(t *testing.T) {
	s, url := open(t)
	sm := scs.New()
	sm.Store = s.SessionStore()
	h := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/put" {
			sm.Put(r.Context(), "n", "v")
			return
		}
		fmt.Fprint(w, sm.GetString(r.Context(), "n"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/put", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	token := cookies[0].Value
	var stored string
	if err := raw(t, url).QueryRow(t.Context(), `SELECT token FROM sessions`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != db.HashToken(token) {
		t.Errorf("stored key %q, want the SHA-256 of the cookie's token", stored)
	}
	req := httptest.NewRequest("GET", "/get", nil)
	req.AddCookie(cookies[0])
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Body.String() != "v" {
		t.Errorf("read back %q, want v", rec.Body.String())
	}
}
