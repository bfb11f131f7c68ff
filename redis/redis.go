// Package redis keeps Gatehouse's shared, short-lived state in Redis, for
// several instances behind one load balancer (product.md §14): session
// data (scs) and the throttle's events. Like the SQLite store, it never
// holds a session token or a throttle key in clear, only SHA-256 hashes.
//
// Every key starts with "gatehouse:", so a Redis that other programs use
// too keeps them apart.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// openTimeout bounds the first ping, so a start never hangs on it.
const openTimeout = 10 * time.Second

// Client is a connection pool to one Redis server.
type Client struct {
	rdb   *goredis.Client
	shown string // the URL with its password masked
}

// CheckURL reports whether rawURL has the form Open takes,
// redis://[USER][:PASSWORD@]HOST[:PORT][/DB] or rediss://…, connecting to
// nothing: a port out of range, a missing host or a database that is not a
// number stop the start at its flags, in one line, before the database is
// opened (product.md §1). Its errors never show the password.
func CheckURL(rawURL string) error {
	_, _, _, err := parseURL(rawURL)
	return err
}

// parseURL checks rawURL and returns go-redis's options for it, the URL to
// show (password masked, no query) and the password, for scrub.
func parseURL(rawURL string) (opt *goredis.Options, shown, password string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		return nil, "", "", errors.New("redis: the Redis URL cannot be parsed; its form is redis://[:PASSWORD@]HOST:PORT/DB, or rediss://… for TLS")
	}
	password, _ = u.User.Password()
	// The query holds connection options, not the server's name; leaving
	// it out keeps the logs short and anything odd in it out of them.
	bare := *u
	bare.RawQuery, bare.Fragment = "", ""
	shown = bare.Redacted()
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, "", "", fmt.Errorf("redis: %s: the scheme must be redis:// or rediss:// (TLS)", shown)
	}
	// go-redis would take an empty host as localhost, and leave a port
	// out of range to the dial, which fails only after its retries.
	if u.Hostname() == "" {
		return nil, "", "", fmt.Errorf("redis: %s: the URL names no host; its form is redis://[:PASSWORD@]HOST:PORT/DB", shown)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, "", "", fmt.Errorf("redis: %s: the port must be a number from 1 to 65535 (Redis's own is 6379)", shown)
		}
	}
	// The database number and the options in the query.
	if opt, err = goredis.ParseURL(rawURL); err != nil {
		return nil, "", "", fmt.Errorf("redis: %s: %s", shown, scrub(err, password))
	}
	return opt, shown, password, nil
}

// Open connects to the Redis at rawURL (see CheckURL for its form) and
// pings it, so a wrong address or password stops the start instead of the
// first sign-in. Its errors show the URL with the password masked, never
// the password.
func Open(ctx context.Context, rawURL string) (*Client, error) {
	opt, shown, password, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	// Maintenance notifications are a Redis Cloud and Enterprise feature;
	// against a self-hosted Redis they would only add a handshake step
	// that fails.
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	rdb := goredis.NewClient(opt)
	// A rediss:// URL for a server without TLS gets no answer at all: the
	// server waits for the end of a command that never comes.
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	opening.Add(1)
	err = rdb.Ping(ctx).Err()
	opening.Add(-1)
	if err != nil {
		rdb.Close()
		msg := scrub(err, password)
		if errors.Is(err, context.DeadlineExceeded) {
			msg = "no answer in time (rediss:// is for a server with TLS, redis:// for one without)"
		}
		return nil, fmt.Errorf("redis: cannot use %s: %s", shown, msg)
	}
	return &Client{rdb: rdb, shown: shown}, nil
}

// opening counts the Opens under way. go-redis logs each failed dial of
// the first ping's retries (it dials on a context of its own, so the
// ping's cannot mark them), and the error Open returns says it once: a
// failed start is one line (product.md §1). The logger is the process's,
// so another client's lines during an Open are dropped too; a server has
// one client.
var opening atomic.Int32

// scrub is err's text, without go-redis's own "redis: " prefix and with
// the password masked should a message ever quote it.
func scrub(err error, password string) string {
	msg := strings.TrimPrefix(err.Error(), "redis: ")
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "xxxxx")
	}
	return msg
}

// Ping reports whether Redis answers; /healthz answers 503 while it does
// not (product.md §14).
func (c *Client) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping %s: %w", c.shown, err)
	}
	return nil
}

// Close closes the pool.
func (c *Client) Close() error { return c.rdb.Close() }

// String is the server's URL with the password masked, for logs.
func (c *Client) String() string { return c.shown }

// SetLogger sends go-redis's own log lines (a failed dial while Redis is
// down, say) to l at Warn, instead of to standard error in another
// format; nil, the start, drops them (the commands' errors say enough).
// go-redis has one logger per process, so this is for main.
func SetLogger(l *slog.Logger) {
	logTo.Store(l)
}

// logTo is where go-redis's lines go; nil: nowhere.
var logTo atomic.Pointer[slog.Logger]

func init() {
	// Installed once, for the whole process: go-redis's default writes
	// to standard error, and Open's first ping must stay quiet.
	goredis.SetLogger(slogLogger{})
}

type slogLogger struct{}

func (slogLogger) Printf(ctx context.Context, format string, v ...any) {
	l := logTo.Load()
	if l == nil || opening.Load() > 0 {
		return
	}
	l.WarnContext(ctx, "redis client", "detail", strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
}
