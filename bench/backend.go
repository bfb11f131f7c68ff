package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/pgtest"
	"gatehouse/internal/redistest"
)

// The bench runs on SQLite (the default) or, with -backend
// postgres+redis, on a throwaway PostgreSQL cluster and redis-server that
// it starts itself on loopback (product.md §9: the same figures side by
// side with SQLite's, from two runs).
const (
	backendSQLite   = "sqlite"
	backendPostgres = "postgres+redis"
)

// services holds the PostgreSQL cluster and Redis of a postgres+redis run.
type services struct {
	pg      *pgtest.Cluster
	redis   *redistest.Server
	dbs     int            // databases made so far
	redisDB int            // Redis database numbers handed out so far
	redisOf map[string]int // the Redis database of each PostgreSQL database
}

// startServices starts PostgreSQL and Redis for -backend postgres+redis.
func (b *bench) startServices() error {
	if b.o.backend == backendSQLite {
		return nil
	}
	if b.o.backend != backendPostgres {
		return fmt.Errorf("-backend %q: want sqlite or postgres+redis", b.o.backend)
	}
	logf("starting PostgreSQL and Redis")
	pg, err := pgtest.Launch()
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	r, err := redistest.Launch(filepath.Join(b.dir, "redis"))
	if err != nil {
		pg.Close()
		return fmt.Errorf("Redis: %w", err)
	}
	b.svc = &services{pg: pg, redis: r}
	return nil
}

func (b *bench) stopServices() {
	if b.svc != nil {
		b.svc.redis.Close()
		b.svc.pg.Close()
	}
}

// newDB names a new, empty database for a server: an SQLite file, or a
// new PostgreSQL database.
func (b *bench) newDB(name string) (string, error) {
	if b.svc == nil {
		return filepath.Join(b.dir, name+".db"), nil
	}
	b.svc.dbs++
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return b.svc.pg.NewDatabase(ctx, fmt.Sprintf("bench_%s_%d", name, b.svc.dbs))
}

// serveArgs are the arguments of `gatehouse serve` on dbArg; on
// PostgreSQL each database also gets a Redis database of its own (sixteen
// at most, reused after) and the run's key file.
func (b *bench) serveArgs(dbArg string) []string {
	args := []string{"serve", "-addr", "ADDR", "-db", dbArg}
	if b.svc == nil {
		return args
	}
	// One Redis database per PostgreSQL database, the same at every start
	// on it: sessions live in Redis, so a server restarted on the same
	// data (the flood step's) must find the sessions made before.
	n, ok := b.svc.redisOf[dbArg]
	if !ok {
		n = b.svc.redisDB % 16
		b.svc.redisDB++
		if b.svc.redisOf == nil {
			b.svc.redisOf = map[string]int{}
		}
		b.svc.redisOf[dbArg] = n
	}
	return append(args, "-redis-url", fmt.Sprintf("redis://%s/%d", b.svc.redis.Addr, n),
		"-secret-key-file", filepath.Join(b.dir, "bench.key"))
}

// countUsers counts the accounts whose username is LIKE like, reading the
// database as another process would.
func (b *bench) countUsers(dbArg, like string) (int, error) {
	if b.svc == nil {
		return countUsers(dbArg, like)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbArg)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM users WHERE username LIKE $1`, like).Scan(&n)
	return n, err
}

// twoInstances is §9's check for §14: two instances on one PostgreSQL
// database and one Redis serve one user's session alternately, request by
// request, without an error.
func (b *bench) twoInstances(ctx context.Context) error {
	const row = "two instances, one session, alternating requests: errors"
	if b.svc == nil {
		b.rep.notApplicable(row, "= 0", "product.md §9 and §14; measured by go run ./bench -backend postgres+redis")
		return nil
	}
	dbArg, err := b.newDB("pair")
	if err != nil {
		return err
	}
	args := b.serveArgs(dbArg)
	var urls []string
	for i := range 2 {
		p, err := b.start(fmt.Sprintf("pair%d", i), args, "/healthz")
		if err != nil {
			return err
		}
		defer b.stop(p)
		urls = append(urls, p.url)
	}
	client := &http.Client{Transport: newTransport(2), CheckRedirect: noRedirect, Timeout: time.Minute}
	cookie, err := signUp(ctx, client, urls[0], benchUser, benchPassword, "")
	if err != nil {
		return err
	}
	const n = 2000
	bad := 0
	t0 := time.Now()
	for i := range n {
		_, status, err := get(client, urls[i%2]+"/dashboard", cookie)
		if err != nil || status != http.StatusOK {
			bad++
		}
	}
	b.rep.exactly(row, float64(bad), "", 0, fmt.Sprintf("product.md §9 and §14; %d signed-in GET /dashboard, alternating between the instances, in %s", n, time.Since(t0).Round(time.Millisecond)))
	return nil
}
