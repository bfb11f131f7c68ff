// Package backup makes the scheduled copies of an SQLite database
// (product.md §15): an online copy every interval, kept only once PRAGMA
// integrity_check has passed on it, and only the newest few kept. A
// failure is logged and never stops the server.
package backup

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"gatehouse/db"
)

// FirstAfter is how long after the start the first copy is made: late
// enough not to slow the start, early enough that a wrong directory shows
// up in the log while someone is watching it.
const FirstAfter = time.Minute

// nameLayout names a copy by when it was made, in UTC, so names sort by
// time: auth-20261122T030000Z.db.
const nameLayout = "auth-20060102T150405Z.db"

// ours matches the names of finished copies; only these are ever deleted
// by the retention, whatever else the directory holds.
var ours = regexp.MustCompile(`^auth-\d{8}T\d{6}Z\.db$`)

// unfinished matches what a copy interrupted by a crash leaves behind.
var unfinished = regexp.MustCompile(`^auth-\d{8}T\d{6}Z\.db\.tmp(-wal|-shm)?$`)

// Source writes a consistent copy of the live database (*db.Store).
type Source interface {
	WriteCopy(ctx context.Context, path string) error
}

// Config says where, how often and how many.
type Config struct {
	Dir    string
	Every  time.Duration
	Keep   int // the newest Keep good copies stay
	Logger *slog.Logger
	// Done, when set, hears the end of each copy: nil when a good copy was
	// kept. The metrics count with it.
	Done func(err error)
}

// Scheduler makes the copies.
type Scheduler struct {
	cfg Config
	src Source
	// The clock and the timer; tests replace them to run the schedule
	// without waiting.
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
	// afterCopy runs between writing a copy and checking it: tests damage
	// the copy here, as a failing disk would.
	afterCopy func(path string)
}

// New returns a Scheduler; Run starts it.
func New(src Source, cfg Config) *Scheduler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Keep < 1 {
		cfg.Keep = 1
	}
	return &Scheduler{cfg: cfg, src: src, now: time.Now, after: time.After, afterCopy: func(string) {}}
}

// Run makes a copy FirstAfter the start and then every cfg.Every, until
// ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	wait := FirstAfter
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.after(wait):
		}
		s.Once(ctx)
		wait = s.cfg.Every
	}
}

// Once makes one copy, checks it, and applies the retention. It returns
// the path of the copy kept, or the error, which it has logged.
func (s *Scheduler) Once(ctx context.Context) (string, error) {
	start := time.Now()
	dest := filepath.Join(s.cfg.Dir, s.now().UTC().Format(nameLayout))
	err := s.copy(ctx, dest)
	if s.cfg.Done != nil && ctx.Err() == nil {
		defer s.cfg.Done(err) // after the retention, so its work is seen
	}
	if err != nil && ctx.Err() != nil {
		s.cfg.Logger.Warn("backup interrupted by shutdown", "file", dest)
		return "", err
	}
	if err != nil {
		s.cfg.Logger.Error("backup failed", "file", dest, "err", err)
		return "", err
	}
	info, _ := os.Stat(dest)
	var size int64
	if info != nil {
		size = info.Size()
	}
	s.cfg.Logger.Info("backup written", "file", dest, "bytes", size, "took", time.Since(start).Round(time.Millisecond))
	s.prune()
	return dest, nil
}

// copy writes dest under a temporary name, checks it, and gives it its
// name only if the check passed; a bad copy is deleted.
func (s *Scheduler) copy(ctx context.Context, dest string) error {
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("%s already exists", dest)
	}
	tmp := dest + ".tmp"
	db.RemoveCopy(tmp)
	if err := s.src.WriteCopy(ctx, tmp); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	s.afterCopy(tmp)
	if err := syncFile(tmp); err != nil {
		db.RemoveCopy(tmp)
		return fmt.Errorf("copy: %w", err)
	}
	sum, err := db.Check(ctx, tmp)
	if err != nil {
		db.RemoveCopy(tmp)
		return fmt.Errorf("the copy failed its check and was deleted: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		db.RemoveCopy(tmp)
		return err
	}
	s.cfg.Logger.Info("backup checked", "file", dest, "integrity", "ok", "schema_version", sum.SchemaVersion,
		"accounts", sum.Accounts, "sessions", sum.Sessions)
	return nil
}

// syncFile makes the copy durable before it takes its name, so a power
// cut never leaves a name on a half-written file.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	serr := f.Sync()
	if err := f.Close(); err != nil {
		return err
	}
	return serr
}

// prune deletes all but the newest Keep copies (by name, which is by
// time), and what crashed copies left behind. Nothing else in the
// directory is touched.
func (s *Scheduler) prune() {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		s.cfg.Logger.Error("backup retention", "dir", s.cfg.Dir, "err", err)
		return
	}
	var copies []string
	for _, e := range entries {
		switch name := e.Name(); {
		case !e.Type().IsRegular():
		case ours.MatchString(name):
			copies = append(copies, name)
		case unfinished.MatchString(name):
			s.remove(name)
		}
	}
	slices.Sort(copies)
	for _, name := range copies[:max(0, len(copies)-s.cfg.Keep)] {
		s.remove(name)
	}
}

func (s *Scheduler) remove(name string) {
	path := filepath.Join(s.cfg.Dir, name)
	if err := os.Remove(path); err != nil {
		s.cfg.Logger.Error("backup retention", "file", path, "err", err)
		return
	}
	s.cfg.Logger.Info("old backup deleted", "file", path)
}

// IsCopyName reports whether name is the name of a scheduled copy.
func IsCopyName(name string) bool { return ours.MatchString(name) }
