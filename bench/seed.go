package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/url"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"gatehouse/db"
)

// seedToken is the session token of seeded session i. Derived from a
// per-run random secret, so the tool can rebuild any cookie without
// keeping a million of them in memory, and no two runs share tokens.
func seedToken(secret []byte, i int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	sum := sha256.Sum256(append(append([]byte{}, secret...), b[:]...))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// seed fills a new database at path with n users, each with one signed-in
// session, writing straight into SQLite in large transactions: the rows
// Gatehouse itself would write (a users row with an argon2id PHC string, a
// user_sessions row with the token's hash, and the scs row holding
// {"sid": id} under the token's hash, in Gatehouse's session codec), so
// the cookies work as real ones.
// last_seen_at lies in the future by ahead, so that no request during the
// measurement triggers the once-a-minute last-seen write at either size.
func seed(ctx context.Context, path string, n int64, phc string, secret []byte, ahead time.Duration) error {
	// db.Open creates the schema with the real migrations.
	st, err := db.Open(ctx, path, db.Options{})
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	// Bulk-load settings for this one connection only: no journal and no
	// fsync (a crash would only lose the benchmark's data), a page cache
	// large enough for the indexes. Gatehouse reopens the file with its own
	// settings (WAL, synchronous FULL).
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_journal_mode=OFF&_synchronous=OFF&_foreign_keys=off&_cache_size=-1048576"
	conn, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)

	now := time.Now()
	expires := now.Add(720 * time.Hour)
	seen := now.Add(ahead).Unix()
	expiry := expires.UTC().Format("2006-01-02T15:04:05.999")
	const batch = 50000
	for lo := int64(1); lo <= n; lo += batch {
		hi := min(n, lo+batch-1)
		if err := seedBatch(ctx, conn, lo, hi, phc, secret, now, expires, seen, expiry); err != nil {
			return err
		}
	}
	_, err = conn.ExecContext(ctx, "PRAGMA journal_mode=WAL")
	return err
}

func seedBatch(ctx context.Context, conn *sql.DB, lo, hi int64, phc string, secret []byte, now, expires time.Time, seen int64, expiry string) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	users, err := tx.PrepareContext(ctx, `INSERT INTO users (id, username, email, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	sessions, err := tx.PrepareContext(ctx, `INSERT INTO user_sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, '127.0.0.1', 'gatehouse-bench')`)
	if err != nil {
		return err
	}
	scsRows, err := tx.PrepareContext(ctx, `INSERT INTO sessions (token, data, expiry) VALUES (?, ?, julianday(?))`)
	if err != nil {
		return err
	}
	for i := lo; i <= hi; i++ {
		name := fmt.Sprintf("seed%07d", i)
		if _, err := users.ExecContext(ctx, i, name, name+"@example.com", phc, now.Unix()); err != nil {
			return err
		}
		hash := db.HashToken(seedToken(secret, i))
		if _, err := sessions.ExecContext(ctx, i, i, hash, now.Unix(), seen, expires.Unix()); err != nil {
			return err
		}
		data, err := db.SessionCodec{}.Encode(expires, map[string]interface{}{"sid": i})
		if err != nil {
			return err
		}
		if _, err := scsRows.ExecContext(ctx, hash, data, expiry); err != nil {
			return err
		}
	}
	return tx.Commit()
}
