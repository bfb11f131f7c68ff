package backup_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/db"
	"gatehouse/handlers"
	"gatehouse/internal/apptest"
	"gatehouse/password"
)

// benchAccounts is the size of the database backed up (issue 18: "sign-ins
// during a backup of a database with 100,000 accounts").
const benchAccounts = 100_000

const benchPassword = "a long bench passphrase 42"

// BenchmarkSignInDuringBackup measures whether a backup blocks sign-ins:
// the same sign-ins (the full stack in-process: throttle check, password
// check, session row and session data written) on a database of 100,000
// accounts, first with nothing else running ("idle"), then while backups
// of the same database run back to back ("during-backup").
//
// Hashing uses test-sized argon2id costs, so a sign-in takes about a
// millisecond and any wait for the database shows up instead of hiding
// behind a 50 ms hash. Besides ns/op it reports the median, 99th
// percentile and slowest sign-in, and the backups made and their time:
//
//	go test ./backup -run '^$' -bench SignInDuringBackup -benchtime 2000x
func BenchmarkSignInDuringBackup(b *testing.B) {
	path := filepath.Join(b.TempDir(), "auth.db")
	seed(b, path, benchAccounts)
	info, _ := os.Stat(path)
	b.Logf("database: %d accounts, %.1f MB", benchAccounts, float64(info.Size())/1e6)
	srv := apptest.New(b, apptest.Options{
		DBPath:      path,
		DiscardLogs: true,
		Configure: func(c *handlers.Config) {
			c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		},
	})
	h := srv.App.Handler()

	b.Run("idle", func(b *testing.B) {
		signIns(b, h, nil)
	})
	b.Run("during-backup", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		dir := b.TempDir()
		var made atomic.Int64
		var took atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				dest := filepath.Join(dir, fmt.Sprintf("copy-%d.db", i))
				start := time.Now()
				if err := srv.Store.Backup(ctx, dest); err != nil {
					if ctx.Err() == nil {
						b.Errorf("backup: %v", err)
					}
					return
				}
				took.Add(int64(time.Since(start)))
				made.Add(1)
				os.Remove(dest)
			}
		})
		signIns(b, h, func() { cancel(); wg.Wait() })
		if made.Load() == 0 {
			b.Fatal("no backup finished during the sign-ins: run more of them (-benchtime)")
		}
		b.ReportMetric(float64(made.Load()), "backups")
		b.ReportMetric(float64(took.Load())/float64(made.Load())/1e6, "ms/backup")
	})
}

// signIns signs accounts in, one after another, and reports the latency
// spread; stop (if any) runs when the timed part ends.
func signIns(b *testing.B, h http.Handler, stop func()) {
	var lat []time.Duration
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		name := fmt.Sprintf("user%06d", i%benchAccounts)
		i++
		body := url.Values{"username": {name}, "password": {benchPassword}}.Encode()
		req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// Each sign-in from an address of its own, like visitors would.
		req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1234", i>>16&255, i>>8&255, i&255)
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		lat = append(lat, time.Since(start))
		if rec.Code != http.StatusSeeOther {
			b.Fatalf("sign-in %s: %d", name, rec.Code)
		}
	}
	b.StopTimer()
	if stop != nil {
		stop()
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}

// seed writes n accounts straight into a new database in one transaction
// (signing 100,000 people up through the form would take an hour of
// hashing), all with the same password, hashed as apptest's server does.
func seed(b *testing.B, path string, n int) {
	b.Helper()
	ctx := context.Background()
	s, err := db.Open(ctx, path, db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	hash, err := password.NewHasher(apptest.Cheap, 1).Hash(ctx, benchPassword)
	if err != nil {
		b.Fatal(err)
	}
	raw := apptest.OpenRawWritable(b, path)
	tx, err := raw.Begin()
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO users (username, email, password_hash, created_at) VALUES (?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().Unix()
	for i := range n {
		name := fmt.Sprintf("user%06d", i)
		if _, err := stmt.Exec(name, name+"@example.com", hash, now); err != nil {
			b.Fatal(err)
		}
	}
	stmt.Close()
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	raw.Close()
}
