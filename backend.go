package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/handlers"
	"gatehouse/postgres"
	"gatehouse/redis"
	"gatehouse/secretkey"
	"gatehouse/throttle"
)

// database is what the commands need of the SQL database: the web layer's
// store, the throttle's events (when there is no Redis), the admin
// commands' list, and Close. *db.Store (SQLite) and *postgres.Store
// implement it.
type database interface {
	handlers.Store
	throttle.Store
	secretkey.Settings
	ListUsers(ctx context.Context) ([]*db.User, error)
	CountActiveSessions(ctx context.Context, now time.Time, idle time.Duration) (int64, error)
	Close() error
}

// backend is the storage opened from -db and -redis-url: the SQL database,
// and Redis for session data and throttle counts when a URL is given
// (product.md §14).
type backend struct {
	handlers.Backend
	db    database
	redis *redis.Client // nil without -redis-url
	desc  string        // for the log: never a password
}

// isPostgres reports whether -db names a PostgreSQL database.
func isPostgres(dbArg string) bool {
	return strings.HasPrefix(dbArg, "postgres://") || strings.HasPrefix(dbArg, "postgresql://")
}

// openBackend opens the database named by dbArg (an SQLite file, or a
// postgres:// URL) and, with a redisURL, Redis. mustExist refuses to
// create a new SQLite file (admin commands, backup).
func openBackend(ctx context.Context, dbArg, redisURL string, mustExist bool, logger *slog.Logger) (*backend, error) {
	b := &backend{}
	// Redis first: a start that cannot reach it leaves no new database
	// file behind.
	var rc *redis.Client
	if redisURL != "" {
		if logger != nil {
			redis.SetLogger(logger)
		}
		var err error
		if rc, err = redis.Open(ctx, redisURL); err != nil {
			return nil, fmt.Errorf("-redis-url: %w", err)
		}
	}
	if isPostgres(dbArg) {
		s, err := postgres.Open(ctx, dbArg)
		if err != nil {
			closeRedis(rc)
			return nil, err
		}
		b.db, b.desc = s, "postgres "+s.String()
		b.Backend = handlers.Backend{Store: s, Sessions: s.SessionStore(), Throttle: s}
	} else {
		s, err := db.Open(ctx, dbArg, db.Options{MustExist: mustExist})
		if err != nil {
			closeRedis(rc)
			return nil, err
		}
		b.db, b.desc = s, "sqlite "+dbArg
		b.Backend = handlers.Backend{Store: s, Sessions: s.SessionStore(), Throttle: s}
	}
	if rc == nil {
		return b, nil
	}
	b.redis = rc
	b.desc += ", redis " + rc.String()
	b.Sessions = rc.SessionStore()
	b.Throttle = rc.ThrottleStore(2 * account.LongestWindow)
	b.Ping = rc.Ping
	b.OneTime = rc.OneTimeStore()
	return b, nil
}

// closeRedis closes rc, if any, when the database cannot be opened.
func closeRedis(rc *redis.Client) {
	if rc != nil {
		rc.Close()
	}
}

// Close closes Redis and the database.
func (b *backend) Close() error {
	var rerr error
	if b.redis != nil {
		rerr = b.redis.Close()
	}
	return errors.Join(rerr, b.db.Close())
}
