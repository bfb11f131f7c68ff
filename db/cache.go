package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// cache keeps the results of the two look-ups of every signed-in request
// (scs's session data by token hash, and the session with its user by
// session id) in process memory, so a page view reads no table at all.
//
// What it holds is trusted only while the database has not changed in a
// way that matters, and that is checked at every look-up, so a sign-out,
// a revocation, a password change or an admin command run in another
// process takes effect at the very next request (product.md §5):
//
//   - The wal-index header (walIndex), mapped from the -shm file, changes
//     at every commit of any connection in any process; while it reads as
//     at the last check, nothing was committed, and no query is made.
//   - PRAGMA data_version, on a connection held for the purpose, changes
//     when any other connection commits (this process's writer or another
//     process). It reads no table, but it is a read transaction: two
//     fcntl calls on the -shm file. It is asked when the header moved, or
//     could not be read.
//   - When it has changed, the generation counter (migration 0004: moved
//     by triggers when a session ends or changes token, or an account
//     changes; 0005: when a session's second-factor mark changes; 0010: when
//     an account gains or loses a second factor) tells whether the commit
//     mattered; if it moved, everything cached is dropped. Commits that
//     do not move it (a last-seen touch, a throttle event, a new session)
//     keep the cache.
//
// Writes this process makes to session data (scs commits, deletes,
// touches) update the cache directly.
type cache struct {
	mu      sync.Mutex
	conn    *sql.Conn // held: data_version is per connection
	wal     *walIndex // the -shm file, mapped or not; nil if it could not be opened
	walHdr  walIndexHeader
	walSeen bool  // walHdr was read before the last successful check
	version int64 // data_version at the last check
	gen     int64 // generation at the last check
	checks  int64 // data_version queries, for tests
	data    map[string]cachedData
	users   map[int64]cachedUser
	hits    int64 // look-ups answered from memory, for tests
}

// maxCached bounds each map; when full it is emptied, which costs one
// look-up per session afterwards.
const maxCached = 100_000

type cachedData struct {
	data   []byte
	expiry time.Time
}

type cachedUser struct {
	tokenHash string
	user      User
	sess      Session
}

// newCache holds a connection of read for the cache's checks and maps the
// wal-index of the database at path. Without the mapping (another system,
// another journal mode) every check asks PRAGMA data_version.
func newCache(ctx context.Context, read *sql.DB, path string) (*cache, error) {
	conn, err := read.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("db: hold a connection for the session cache: %w", err)
	}
	c := &cache{conn: conn, version: -1, gen: -1}
	c.reset()
	// A first check opens the -shm file for this connection, so it is
	// initialised before it is mapped, and stays so while conn is held.
	c.mu.Lock()
	err = c.fresh(ctx)
	c.mu.Unlock()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("db: session cache: %w", err)
	}
	// Unmapped, every check asks PRAGMA data_version.
	c.wal, _ = openWALIndex(path)
	return c, nil
}

func (c *cache) reset() {
	c.data = map[string]cachedData{}
	c.users = map[int64]cachedUser{}
}

// fresh brings the cache up to date with the database; c.mu is held. An
// error leaves the cache empty, so look-ups go to the database.
func (c *cache) fresh(ctx context.Context) error {
	// The header is read before data_version: a commit that lands between
	// the two is then seen by the query and still moves the header from
	// what is kept, so the next check asks again. The other order could
	// keep a header that a commit the query missed had already moved.
	var hdr walIndexHeader
	hdrOK := false
	if c.wal != nil {
		hdr, hdrOK = c.wal.header()
		if hdrOK && c.walSeen && hdr == c.walHdr && c.version >= 0 {
			return nil
		}
	}
	c.walSeen = false
	c.checks++
	var v int64
	if err := c.conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		c.reset()
		c.version = -1
		return err
	}
	if v == c.version {
		c.walHdr, c.walSeen = hdr, hdrOK
		return nil
	}
	var g int64
	if err := c.conn.QueryRowContext(ctx, `SELECT n FROM generation`).Scan(&g); err != nil {
		c.reset()
		c.version = -1
		return err
	}
	if g != c.gen {
		c.reset()
	}
	c.version, c.gen = v, g
	c.walHdr, c.walSeen = hdr, hdrOK
	return nil
}

// getData returns scs's data for a token hash, if cached and not expired.
//
// Unlike getUser it does not check the database first: session data
// grants nothing by itself. Who is signed in is decided by SessionUser,
// which does check, and which finds nothing once another process has
// ended the session (the caller then destroys the data). What another
// process can do to session data is only to delete it, along with the
// session; this process's own writes update the cache directly; and an
// entry never outlives the session's deadline.
func (c *cache) getData(hash string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.data[hash]
	if !ok || !time.Now().Before(d.expiry) {
		return nil, false
	}
	c.hits++
	return d.data, true
}

// putData caches scs's data for a token hash, read or written at
// generation gen; data read while a change raced it is not kept.
func (c *cache) putData(hash string, b []byte, expiry time.Time, gen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.data) >= maxCached {
		c.data = map[string]cachedData{}
	}
	c.data[hash] = cachedData{data: b, expiry: expiry}
}

// dropData forgets the session data of ended sessions.
func (c *cache) dropData(hashes ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range hashes {
		delete(c.data, h)
	}
}

// getUser returns the session sid with its user, if cached and fresh and
// still under tokenHash.
func (c *cache) getUser(ctx context.Context, sid int64, tokenHash string) (*User, Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fresh(ctx) != nil {
		return nil, Session{}, false
	}
	e, ok := c.users[sid]
	if !ok || e.tokenHash != tokenHash {
		return nil, Session{}, false
	}
	c.hits++
	u := e.user
	return &u, e.sess, true
}

// putUser caches a look-up made at generation gen; a look-up that raced
// a change (the generation moved meanwhile) is not kept.
func (c *cache) putUser(sid int64, tokenHash string, u *User, sess Session, gen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.users) >= maxCached {
		c.users = map[int64]cachedUser{}
	}
	c.users[sid] = cachedUser{tokenHash: tokenHash, user: *u, sess: sess}
}

// generation is the generation the cache was last checked at.
func (c *cache) generation() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// touched records this process's last-seen write.
func (c *cache) touched(sid int64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.users[sid]; ok {
		e.sess.LastSeenAt = at
		c.users[sid] = e
	}
}

// close unmaps the wal-index and closes the held connection. The -shm
// file's descriptor stays open until release, once every connection of
// the Store has closed (see shmFiles).
func (c *cache) close() error {
	var werr error
	if c.wal != nil {
		werr = c.wal.unmap()
	}
	return errors.Join(werr, c.conn.Close())
}

// release gives back the -shm file's descriptor; Store.Close calls it
// last.
func (c *cache) release() {
	if c.wal != nil {
		c.wal.release()
		c.wal = nil
	}
}
