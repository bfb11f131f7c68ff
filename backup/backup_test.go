package backup

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/db"
)

// logBuffer keeps the scheduler's log for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// harness runs a Scheduler on a real database with a clock and a timer
// that the test moves: no test waits for real time to pass.
type harness struct {
	t     *testing.T
	dir   string
	logs  *logBuffer
	s     *Scheduler
	asked chan time.Duration // what Run waits for before each copy
	fire  chan time.Time
	done  chan error // the end of each copy
	clock time.Time
}

func newHarness(t *testing.T, keep int) *harness {
	t.Helper()
	ctx := context.Background()
	store, err := db.Open(ctx, filepath.Join(t.TempDir(), "auth.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for i := range 20 {
		name := "user" + strconv.Itoa(i)
		if _, err := store.CreateUser(ctx, name, name+"@example.com", "h", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{
		t:     t,
		dir:   t.TempDir(),
		logs:  &logBuffer{},
		asked: make(chan time.Duration, 10),
		fire:  make(chan time.Time),
		done:  make(chan error, 10),
		clock: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC),
	}
	h.s = New(store, Config{
		Dir: h.dir, Every: 6 * time.Hour, Keep: keep,
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)),
		Done:   func(err error) { h.done <- err },
	})
	h.s.now = func() time.Time { return h.clock }
	h.s.after = func(d time.Duration) <-chan time.Time {
		h.asked <- d
		return h.fire
	}
	return h
}

// next lets the wait that Run asked for pass, the clock having moved by
// it, and returns the outcome of the copy that follows.
func (h *harness) next(wantWait time.Duration) error {
	h.t.Helper()
	if got := <-h.asked; got != wantWait {
		h.t.Fatalf("the scheduler waits %s, want %s", got, wantWait)
	}
	h.clock = h.clock.Add(wantWait)
	h.fire <- h.clock
	return <-h.done
}

// files lists the directory's names, sorted.
func (h *harness) files() []string {
	h.t.Helper()
	entries, err := os.ReadDir(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// product.md §15: the first copy a minute after the start, then every
// -backup-every; each one checked; the newest -backup-keep kept; files
// that are not ours untouched.
func TestScheduleRetention(t *testing.T) {
	h := newHarness(t, 2)
	foreign := []string{"auth-latest.db", "notes.txt", "auth-20200101T000000Z.db.bak"}
	for _, name := range foreign {
		if err := os.WriteFile(filepath.Join(h.dir, name), []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { h.s.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	if err := h.next(time.Minute); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := h.next(6 * time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	kept := []string{"auth-20261122T150100Z.db", "auth-20261122T210100Z.db"}
	want := append(slices.Clone(kept), foreign...)
	slices.Sort(want)
	if got := h.files(); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	for _, name := range kept {
		path := filepath.Join(h.dir, name)
		sum, err := db.Check(context.Background(), path)
		if err != nil || sum.Accounts != 20 {
			t.Errorf("%s: %+v, %v; want a good copy with 20 accounts", name, sum, err)
		}
		if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %03o, want 600", name, info.Mode().Perm())
		}
	}
	if n := strings.Count(h.logs.String(), "old backup deleted"); n != 2 {
		t.Errorf("%d deletions logged, want 2:\n%s", n, h.logs)
	}
}

// product.md §15: a copy that fails PRAGMA integrity_check is deleted and
// logged as an error; the good copies stay, and the schedule goes on.
func TestDamagedCopyDeletedAndLogged(t *testing.T) {
	h := newHarness(t, 5)
	damage := false
	h.s.afterCopy = func(path string) {
		if !damage {
			return
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		// Garbage over the pages after the first, as a failing disk would
		// write.
		if _, err := f.WriteAt(bytes.Repeat([]byte{0x5a}, 8192), 4096+100); err != nil {
			t.Error(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { h.s.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	if err := h.next(time.Minute); err != nil {
		t.Fatal(err)
	}
	damage = true
	if err := h.next(6 * time.Hour); err == nil {
		t.Fatal("a damaged copy passed")
	}
	damage = false
	if err := h.next(6 * time.Hour); err != nil {
		t.Fatal(err)
	}
	want := []string{"auth-20261122T030100Z.db", "auth-20261122T150100Z.db"}
	if got := h.files(); !slices.Equal(got, want) {
		t.Errorf("files %v, want %v (the damaged copy and its temporary files gone)", got, want)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, `level=ERROR msg="backup failed" file=`+filepath.Join(h.dir, "auth-20261122T090100Z.db")) ||
		!strings.Contains(logs, "failed its check") {
		t.Errorf("the damaged copy is not logged as an error:\n%s", logs)
	}
}

// A backup that cannot be written (the directory is gone) is logged and
// the schedule goes on: a failure never stops the server.
func TestFailureDoesNotStopTheSchedule(t *testing.T) {
	h := newHarness(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { h.s.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	if err := os.Remove(h.dir); err != nil {
		t.Fatal(err)
	}
	if err := h.next(time.Minute); err == nil {
		t.Fatal("a copy into a missing directory succeeded")
	}
	if !strings.Contains(h.logs.String(), "level=ERROR") {
		t.Errorf("the failure is not logged as an error:\n%s", h.logs)
	}
	if err := os.Mkdir(h.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := h.next(6 * time.Hour); err != nil {
		t.Fatalf("the next copy after a failure: %v", err)
	}
	if got := h.files(); len(got) != 1 {
		t.Errorf("files %v, want one copy", got)
	}
}

// What a crash in the middle of a copy leaves behind is cleaned up by the
// next good copy.
func TestLeftoversOfACrashRemoved(t *testing.T) {
	h := newHarness(t, 3)
	for _, name := range []string{"auth-20261101T000000Z.db.tmp", "auth-20261101T000000Z.db.tmp-wal"} {
		if err := os.WriteFile(filepath.Join(h.dir, name), []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.s.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.files(); !slices.Equal(got, []string{"auth-20261122T030000Z.db"}) {
		t.Errorf("files %v, want only the new copy", got)
	}
}
