package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"gatehouse/mail"
	"gatehouse/postgres"
	"gatehouse/redis"
)

// envName is the environment variable of a flag: -session-idle is
// GATEHOUSE_SESSION_IDLE.
func envName(flagName string) string {
	return "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags fills fs from the environment first and then from args, so
// flags win over environment variables. Errors are one line that names the
// flag or variable.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("invalid value %q for %s: %v", v, envName(f.Name), e)
			}
		}
	})
	if err != nil {
		return err
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%v (see 'gatehouse help')", err)
	}
	return nil
}

// serveConfig is what `gatehouse serve` is told.
type serveConfig struct {
	Addr            string
	DB              string
	BaseURL         string
	SessionLifetime time.Duration
	SessionIdle     time.Duration
	TrustedProxies  string
	SMTPURL         string
	MailFrom        string
	RedisURL        string
	SecretKeyFile   string
	CookieDomain    string
	AccessRules     string
	BackupDir       string
	BackupEvery     time.Duration
	BackupKeep      int
	MetricsAddr     string
	LogFormat       string
}

// serveFlags declares the flags of serve with their defaults.
func serveFlags(c *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", ":8080", "address to listen on, host:port")
	fs.StringVar(&c.DB, "db", "auth.db", "SQLite database file (created if missing), or postgres://USER:PASS@HOST:5432/NAME")
	fs.StringVar(&c.BaseURL, "base-url", "", "public URL, e.g. https://auth.example.com (https makes cookies Secure; used for links in mail)")
	fs.DurationVar(&c.SessionLifetime, "session-lifetime", 720*time.Hour, "absolute lifetime of a session")
	fs.DurationVar(&c.SessionIdle, "session-idle", 168*time.Hour, "a session unused this long ends")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated addresses or CIDRs whose X-Forwarded-For is believed (default none)")
	fs.StringVar(&c.SMTPURL, "smtp-url", "", "mail server, smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465; empty writes mail to the log")
	fs.StringVar(&c.MailFrom, "mail-from", "", "sender address of mail (default gatehouse@ + the base URL's host)")
	fs.StringVar(&c.SecretKeyFile, "secret-key-file", "", "the server's secret key, created (0600) at first start; back it up apart from the database (default: the SQLite file + .key; required with PostgreSQL)")
	fs.StringVar(&c.RedisURL, "redis-url", "", "Redis for sessions and throttle counts, redis://[:PASS@]HOST:6379/0 or rediss:// (default none: the database holds them)")
	fs.StringVar(&c.CookieDomain, "cookie-domain", "", "Domain of the session cookie, e.g. example.com, so apps on its subdomains share the sign-in (forward-auth); the base URL's host or a parent of it, not a public suffix (default none: the base URL's host only)")
	fs.StringVar(&c.AccessRules, "access-rules", "", "YAML file of access rules for the forward-auth endpoints; SIGHUP reloads it (default none: every host needs a signed-in account)")
	fs.StringVar(&c.BackupDir, "backup-dir", "", "directory for scheduled, checked copies of the SQLite database, auth-YYYYMMDDTHHMMSSZ.db (default none: no scheduled backups)")
	fs.DurationVar(&c.BackupEvery, "backup-every", 24*time.Hour, "time between scheduled backups (the first one a minute after start)")
	fs.IntVar(&c.BackupKeep, "backup-keep", 7, "how many scheduled backups to keep, newest first")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "address of a separate listener for Prometheus metrics at /metrics, e.g. 127.0.0.1:9100 (default none: off)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	return fs
}

// listenAddr reports whether addr is host:port with a port net.Listen
// takes: a number from 0 to 65535 or a service name. SplitHostPort alone
// let :99999 through to the listen, after the database was opened.
func listenAddr(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	_, err = net.LookupPort("tcp", port)
	return err == nil
}

// checkRedisURL checks the form of a -redis-url (empty: none) without
// connecting, so a bad one stops a command at its flags, before the
// database is opened or anything is logged.
func checkRedisURL(raw string) error {
	if raw == "" {
		return nil
	}
	if err := redis.CheckURL(raw); err != nil {
		return fmt.Errorf("-redis-url (%s): %w", envName("redis-url"), err)
	}
	return nil
}

// checkDB checks the form of a -db that names a PostgreSQL database,
// connecting to nothing, so a bad URL stops a command at its flags, before
// anything is logged, as a bad -redis-url does. An SQLite path is left to
// the open.
func checkDB(raw string) error {
	if !isPostgres(raw) {
		return nil
	}
	if err := postgres.CheckURL(raw); err != nil {
		return fmt.Errorf("-db (%s): %w", envName("db"), err)
	}
	return nil
}

// validate checks the values that flag parsing cannot, and returns the
// parsed base URL and proxy list.
func (c *serveConfig) validate() (*url.URL, []string, error) {
	if !listenAddr(c.Addr) {
		return nil, nil, fmt.Errorf("invalid value %q for -addr (%s): want host:port with a port from 0 to 65535, e.g. :8080 or 127.0.0.1:9000", c.Addr, envName("addr"))
	}
	if c.DB == "" {
		return nil, nil, fmt.Errorf("-db (%s) must name a file", envName("db"))
	}
	if c.SessionLifetime <= 0 {
		return nil, nil, fmt.Errorf("invalid value %s for -session-lifetime (%s): must be positive", c.SessionLifetime, envName("session-lifetime"))
	}
	if c.SessionIdle <= 0 {
		return nil, nil, fmt.Errorf("invalid value %s for -session-idle (%s): must be positive", c.SessionIdle, envName("session-idle"))
	}
	if c.SecretKeyFile == "" {
		if isPostgres(c.DB) {
			return nil, nil, fmt.Errorf("-secret-key-file (%s) is required with a PostgreSQL -db: there is no database file to keep it beside, and every instance must use the same key", envName("secret-key-file"))
		}
		c.SecretKeyFile = c.DB + ".key"
	}
	if err := c.validateOperations(); err != nil {
		return nil, nil, err
	}
	if err := checkDB(c.DB); err != nil {
		return nil, nil, err
	}
	if err := checkRedisURL(c.RedisURL); err != nil {
		return nil, nil, err
	}
	base, err := parseBaseURL(c.BaseURL, c.Addr)
	if err != nil {
		return nil, nil, err
	}
	proxies, err := parseProxies(c.TrustedProxies)
	if err != nil {
		return nil, nil, err
	}
	if c.CookieDomain, err = parseCookieDomain(c.CookieDomain, base); err != nil {
		return nil, nil, err
	}
	return base, proxies, nil
}

// parseCookieDomain checks -cookie-domain (product.md §11): the base URL's
// host or a parent of it, so the cookie reaches Gatehouse itself, and not
// a public suffix (com, co.uk, github.io), which browsers refuse and which
// would hand the session to every site under it. It returns the domain
// lowercased, without a leading dot; empty stays empty.
func parseCookieDomain(raw string, base *url.URL) (string, error) {
	if raw == "" {
		return "", nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("invalid value %q for -cookie-domain (%s): %s", raw, envName("cookie-domain"), fmt.Sprintf(format, args...))
	}
	d := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(raw)), ".")
	if d == "" || strings.ContainsAny(d, ":/@ ") || strings.HasSuffix(d, ".") {
		return "", bad("want a domain name such as example.com (no scheme, port or path)")
	}
	host := strings.ToLower(base.Hostname())
	if net.ParseIP(host) != nil || net.ParseIP(d) != nil {
		return "", bad("a cookie domain needs a base URL with a host name, not an IP address (-base-url is %s)", base)
	}
	if host != d && !strings.HasSuffix(host, "."+d) {
		return "", bad("it must be the host of -base-url (%s) or a parent of it", host)
	}
	if suffix, _ := publicsuffix.PublicSuffix(d); suffix == d {
		return "", bad("it is a public suffix; browsers refuse it, and it would share the session with every site under it; use your own domain")
	}
	return d, nil
}

// parseBaseURL accepts an absolute http(s) URL with no path beyond "/". An
// empty value means http://localhost plus the listening port, for trying
// Gatehouse out.
func parseBaseURL(raw, addr string) (*url.URL, error) {
	if raw == "" {
		_, port, _ := net.SplitHostPort(addr)
		return &url.URL{Scheme: "http", Host: net.JoinHostPort("localhost", port)}, nil
	}
	const want = "want an http or https URL such as https://auth.example.com"
	bad := func(why string) error {
		return fmt.Errorf("invalid value %q for -base-url (%s): %s", raw, envName("base-url"), why)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// The parser's reason (`invalid port ":x" after host`), without the
		// URL it would repeat.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, bad(fmt.Sprintf("%v; %s", err, want))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return nil, bad(want)
	}
	// url.Parse checks only that a port is digits: 99999 or 0 would start
	// a server whose links and origin checks name a port nobody can reach.
	// A colon with nothing after it is refused too.
	if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, bad("the port must be a number from 1 to 65535, e.g. https://auth.example.com:8443")
		}
	}
	u.Path = ""
	return u, nil
}

// parseProxies splits a comma-separated list of IPs or CIDRs.
func parseProxies(raw string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				return nil, fmt.Errorf("invalid value %q in -trusted-proxies (%s): want an IP address or CIDR", p, envName("trusted-proxies"))
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// mailConfig checks -smtp-url and -mail-from. An empty -smtp-url is valid:
// mail then goes to the log. Errors never repeat the SMTP URL, which may
// hold a password.
func (c *serveConfig) mailConfig(base *url.URL) (mail.Config, error) {
	if c.SMTPURL != "" {
		if _, err := mail.ParseURL(c.SMTPURL); err != nil {
			return mail.Config{}, fmt.Errorf("-smtp-url (%s): %v", envName("smtp-url"), err)
		}
	}
	from := c.MailFrom
	if from == "" {
		from = "gatehouse@" + base.Hostname()
	}
	addr, err := netmail.ParseAddress(from)
	if err != nil || !strings.Contains(addr.Address, "@") {
		if c.MailFrom == "" {
			return mail.Config{}, fmt.Errorf("the default sender %q (gatehouse@ + the host of -base-url) is not a valid address; set -mail-from (%s)", from, envName("mail-from"))
		}
		return mail.Config{}, fmt.Errorf("invalid value %q for -mail-from (%s): want an address such as gatehouse@example.com or \"Gatehouse <gatehouse@example.com>\"", from, envName("mail-from"))
	}
	return mail.Config{URL: c.SMTPURL, From: from}, nil
}

// minBackupEvery bounds -backup-every from below: copies are named to the
// second, and more often than this is a load, not a backup plan.
const minBackupEvery = time.Minute

// validateOperations checks the flags of product.md §15: scheduled
// backups, the metrics listener and the log format.
func (c *serveConfig) validateOperations() error {
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("invalid value %q for -log-format (%s): want text or json", c.LogFormat, envName("log-format"))
	}
	if c.MetricsAddr != "" {
		if !listenAddr(c.MetricsAddr) {
			return fmt.Errorf("invalid value %q for -metrics-addr (%s): want host:port with a port from 0 to 65535, e.g. 127.0.0.1:9100", c.MetricsAddr, envName("metrics-addr"))
		}
	}
	if c.BackupDir == "" {
		return nil
	}
	if isPostgres(c.DB) {
		return fmt.Errorf("-backup-dir (%s) copies an SQLite database; for PostgreSQL schedule pg_dump instead (pg_dump -Fc -f gatehouse.dump DATABASE_URL) and keep the secret key file with it", envName("backup-dir"))
	}
	if c.BackupEvery < minBackupEvery {
		return fmt.Errorf("invalid value %s for -backup-every (%s): must be at least %s", c.BackupEvery, envName("backup-every"), minBackupEvery)
	}
	if c.BackupKeep < 1 {
		return fmt.Errorf("invalid value %d for -backup-keep (%s): must be at least 1", c.BackupKeep, envName("backup-keep"))
	}
	return nil
}
