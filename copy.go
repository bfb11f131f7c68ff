package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"gatehouse/db"
	"gatehouse/postgres"
	"gatehouse/redis"
)

// copyConfig is what `gatehouse copy` is told.
type copyConfig struct {
	From     string
	To       string
	RedisURL string
}

// copyFlags declares the flags of copy; help lists them from here.
func copyFlags(c *copyConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("copy", flag.ContinueOnError)
	fs.StringVar(&c.From, "from", "", "the SQLite file to copy (it must exist)")
	fs.StringVar(&c.To, "to", "", "the empty PostgreSQL database, postgres://USER:PASS@HOST:5432/NAME")
	fs.StringVar(&c.RedisURL, "redis-url", "", "the servers' Redis, which then holds the copied sessions' data (default none: PostgreSQL holds it)")
	return fs
}

// copyCommand moves an SQLite database into an empty PostgreSQL one:
// gatehouse copy -from auth.db -to postgres://… (product.md §14). Every
// row goes, in one transaction, so accounts sign in with their passwords
// and sessions keep working; the secret key file must go with it (-secret-key-file).
// With -redis-url, the sessions' data also goes to Redis, where servers
// started with that Redis look for it.
func copyCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var c copyConfig
	fs := copyFlags(&c)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if c.From == "" || c.To == "" || fs.NArg() != 0 {
		return errors.New("usage: gatehouse copy -from auth.db -to postgres://USER:PASS@HOST:5432/NAME [-redis-url redis://…]")
	}
	if isPostgres(c.From) || !isPostgres(c.To) {
		return errors.New("copy goes from an SQLite file (-from) to a postgres:// URL (-to)")
	}
	if err := checkRedisURL(c.RedisURL); err != nil {
		return err
	}
	src, err := db.Open(ctx, c.From, db.Options{MustExist: true})
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, c.To)
	if err != nil {
		return err
	}
	defer dst.Close()
	var rc *redis.Client
	if c.RedisURL != "" {
		// Before the copy: a Redis that does not answer stops it while
		// the database is still empty.
		if rc, err = redis.Open(ctx, c.RedisURL); err != nil {
			return fmt.Errorf("-redis-url: %w", err)
		}
		defer rc.Close()
	}

	tables := make([]postgres.ImportTable, len(db.ExportTables))
	index := map[string]int{}
	for i, t := range db.ExportTables {
		tables[i] = postgres.ImportTable{Name: t.Name, Columns: t.Columns}
		index[t.Name] = i
	}
	err = src.Export(ctx, func(t db.Table, row []any) error {
		i := index[t.Name]
		tables[i].Rows = append(tables[i].Rows, row)
		return nil
	})
	if err != nil {
		return err
	}
	// Read after the rows: at least the highest id among them. Accounts'
	// and sessions' ids are never given twice (an id names a session to
	// prompt=login and to its count of wrong current passwords).
	for _, table := range []string{"users", "user_sessions"} {
		if tables[index[table]].IDsAbove, err = src.HighestID(ctx, table); err != nil {
			return err
		}
	}
	if err := dst.Import(ctx, tables); errors.Is(err, postgres.ErrNotEmpty) {
		return fmt.Errorf("%s already holds data (%v); copy only into an empty database", dst, err)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %s to %s: %d accounts, %d sessions, %d links\n", c.From, dst,
		len(tables[index["users"]].Rows), len(tables[index["user_sessions"]].Rows), len(tables[index["link_tokens"]].Rows))
	if rc == nil {
		return nil
	}
	data := make([]redis.HashedSession, 0, len(tables[index["sessions"]].Rows))
	for _, row := range tables[index["sessions"]].Rows {
		hash, _ := row[0].(string)
		b, _ := row[1].([]byte)
		expiry, ok := row[2].(time.Time)
		if hash == "" || !ok {
			return fmt.Errorf("copied to %s, but a session's data has an unexpected form; its user signs in again", dst)
		}
		data = append(data, redis.HashedSession{Hash: hash, Data: b, Expiry: expiry})
	}
	n, err := rc.SessionStore().Import(ctx, data)
	if err != nil {
		return fmt.Errorf("copied to %s, but the sessions' data did not reach Redis (signed-in users sign in again): %w", dst, err)
	}
	fmt.Fprintf(stdout, "sessions' data of %d sessions written to %s\n", n, rc)
	return nil
}
