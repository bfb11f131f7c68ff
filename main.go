// Command gatehouse gives people accounts on a server they own: one binary,
// one SQLite file. main only wires; the work is in db, password, views and
// handlers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"gatehouse/access"
	"gatehouse/backup"
	"gatehouse/db"
	"gatehouse/handlers"
	// First of Gatehouse's packages: the process may replace itself
	// with the runtime's signal preemption off (internal/preempt).
	_ "gatehouse/internal/preempt/atstart"
	"gatehouse/logbuf"
	"gatehouse/mail"
	"gatehouse/metrics"
	"gatehouse/password"
	"gatehouse/secretkey"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(2)
	}
}

// run is the whole program, so tests can start it with their own
// arguments, environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := command(ctx, args, getenv, stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		// -h or -help where a command reads its flags (gatehouse -h,
		// gatehouse user add -h): the help, as gatehouse help shows it.
		printHelp(stdout)
		return nil
	}
	return err
}

// command runs the command args name (serve when none is named).
func command(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stderr)
	case "backup":
		return backupCommand(ctx, args, getenv, stdout)
	case "user":
		return user(ctx, args, getenv, stdin, stdout, stderr)
	case "copy":
		return copyCommand(ctx, args, getenv, stdout)
	case "client":
		return client(ctx, args, getenv, stdout, stderr)
	case "help":
		printHelp(stdout)
		return nil
	default:
		return fmt.Errorf("unknown command %q (see 'gatehouse help')", cmd)
	}
}

// shutdownGrace is how long requests in flight may take after a stop signal.
const shutdownGrace = 10 * time.Second

// writeTimeout is the longest a request may take to be answered. A request
// waits for a hashing slot at most two thirds of it, then gets 503: an
// answer instead of a dropped connection. The wait is long because a burst
// of 500 sign-ups on two busy cores (product.md §9) must still succeed.
const writeTimeout = 90 * time.Second

// serve runs the web server until ctx ends, then stops gracefully: no new
// connections, requests in flight finish, and the database is closed so
// the file alone is complete.
func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var cfg serveConfig
	fs := serveFlags(&cfg)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	// serve takes flags only: a word after them (a database path without
	// -db) would otherwise be ignored and the server start on the defaults.
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected argument %q: serve takes only flags, such as -db FILE (see 'gatehouse help')", fs.Arg(0))
	}
	baseURL, proxies, err := cfg.validate()
	if err != nil {
		return err
	}
	mailCfg, err := cfg.mailConfig(baseURL)
	if err != nil {
		return err
	}
	var rules *access.Rules // nil: every host needs a signed-in account
	if cfg.AccessRules != "" {
		if rules, err = access.Load(cfg.AccessRules); err != nil {
			return err
		}
	}
	logger := slog.New(logHandler(cfg.LogFormat, stderr))
	// zitadel/oidc logs through the default logger only (its WithLogger
	// option does nothing): made ours, its lines are in the chosen format,
	// in the same stream. Put back at the end, for a caller in-process.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(logger)
	// Request lines are batched (at most logbuf.Every late); events and
	// warnings go out at once.
	requests := logbuf.New(stderr)
	defer requests.Close()
	sender, err := mail.New(mailCfg, logger)
	if err != nil {
		return err
	}
	if mailCfg.URL == "" {
		logger.Warn("no SMTP server set (-smtp-url): mail, links included, is written to this log; fine for trying Gatehouse out, not for production")
	} else {
		u, _ := mail.ParseURL(mailCfg.URL) // checked above
		logger.Info("mail via SMTP", "server", u.Scheme+"://"+u.Host, "from", mailCfg.From)
	}

	if cfg.BackupDir != "" {
		if err := prepareBackupDir(cfg.BackupDir, cfg.DB); err != nil {
			return err
		}
	}
	b, err := openBackend(ctx, cfg.DB, cfg.RedisURL, false, logger)
	if err != nil {
		return err
	}
	key, err := secretkey.LoadFor(ctx, b.db, cfg.SecretKeyFile)
	if err != nil {
		b.Close()
		return err
	}
	defer func() {
		if err := b.Close(); err != nil {
			logger.Error("close database", "err", err)
		}
		logger.Info("database closed", "db", b.desc)
	}()

	// Metrics (product.md §15) on a listener of their own, never the main
	// one: they say how busy the server is, which is nobody else's business.
	var appMetrics handlers.Metrics
	var m *metrics.Metrics
	if cfg.MetricsAddr != "" {
		m = metrics.New(func(ctx context.Context) (int64, error) {
			return b.db.CountActiveSessions(ctx, time.Now(), cfg.SessionIdle)
		}, logger)
		appMetrics = m // only when on: a nil *Metrics in the interface would not be nil
		msrv, err := serveMetrics(cfg.MetricsAddr, m, logger)
		if err != nil {
			return err
		}
		defer msrv.Close()
	}

	// One hash per core: argon2id with p=1 keeps one core busy and holds
	// 19 MiB, so this bounds both CPU and memory under a flood.
	hasher := password.NewHasher(password.OWASP, runtime.NumCPU())
	tuneGC(getenv, int(password.OWASP.Memory>>10), runtime.NumCPU())
	app, err := handlers.New(handlers.Config{
		BaseURL:         baseURL,
		SessionLifetime: cfg.SessionLifetime,
		SessionIdle:     cfg.SessionIdle,
		TrustedProxies:  proxies,
		Logger:          logger,
		RequestLog:      slog.New(logHandler(cfg.LogFormat, requests)),
		Mail:            sender,
		HashWait:        writeTimeout * 2 / 3,
		ThrottleKey:     key.Derive("throttle"),
		SecretKey:       key,
		CookieDomain:    cfg.CookieDomain,
		AccessRules:     rules,
		Metrics:         appMetrics,
	}, b.Backend, hasher)
	if err != nil {
		return err
	}
	if cfg.AccessRules != "" {
		stopReload := reloadOnHangup(cfg.AccessRules, app, logger)
		defer stopReload()
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           app.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// The database closes only after the background work has stopped.
	cleanupCtx, stopCleanup := context.WithCancel(context.Background())
	var background sync.WaitGroup
	defer func() {
		stopCleanup()
		background.Wait()
	}()
	background.Go(func() { app.RunCleanup(cleanupCtx, 5*time.Minute) })
	if cfg.BackupDir != "" {
		bc := backup.Config{Dir: cfg.BackupDir, Every: cfg.BackupEvery, Keep: cfg.BackupKeep, Logger: logger}
		if m != nil {
			bc.Done = m.Backup
		}
		// validate refused -backup-dir with PostgreSQL: this is SQLite.
		sched := backup.New(b.db.(*db.Store), bc)
		background.Go(func() { sched.Run(cleanupCtx) })
		logger.Info("scheduled backups", "dir", cfg.BackupDir, "every", cfg.BackupEvery, "keep", cfg.BackupKeep,
			"first_in", backup.FirstAfter)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	// Start-up work (migrations, parsing the templates, the key check,
	// and on a first start the OpenID Connect signing key made in the
	// background) leaves garbage that no request needs; with GOGC=200 the
	// first collection could be far off, so hand those pages back once
	// that work is done: an idle server holds what it uses
	// (docs/PERFORMANCE.md, idle memory). Not before listening: the
	// forced collection and the scavenging took 20-38 ms of a start of
	// about 95.
	go func() {
		app.WaitStartup()
		debug.FreeOSMemory()
	}()
	logger.Info("listening", "addr", ln.Addr().String(), "db", b.desc, "base_url", baseURL.String())

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", shutdownGrace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("requests still running at the end of the grace period", "err", err)
	}
	// Mail queued by the last requests is sent (or times out) before the
	// database closes.
	app.Wait()
	stopCleanup()
	background.Wait()
	return nil
}

// reloadOnHangup reloads the access rules from path at every SIGHUP until
// the returned function is called. The signal is wired before this
// returns, so a SIGHUP sent once the server listens never ends it.
func reloadOnHangup(path string, app *handlers.App, logger *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				reloadRules(path, app, logger)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// reloadRules puts the rules in path in force; a bad file keeps the rules
// in force and logs why (product.md §11).
func reloadRules(path string, app *handlers.App, logger *slog.Logger) {
	rules, err := access.Load(path)
	if err != nil {
		logger.Error("access rules not reloaded; the previous rules stay in force", "err", err)
		return
	}
	app.SetAccessRules(rules)
	logger.Info("access rules reloaded", "file", path)
}

// logHandler writes log records as text (key=value) or as JSON, one
// object per line, for log shippers (product.md §15).
func logHandler(format string, w io.Writer) slog.Handler {
	if format == "json" {
		return slog.NewJSONHandler(w, nil)
	}
	return slog.NewTextHandler(w, nil)
}

// serveMetrics serves /metrics on a listener of its own until closed.
func serveMetrics(addr string, m *metrics.Metrics, logger *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics-addr (%s): %w", envName("metrics-addr"), err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go srv.Serve(ln)
	logger.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	return srv, nil
}

// prepareBackupDir makes the backup directory (0700: the copies hold
// password hashes) and checks that it can be written, so a wrong
// -backup-dir stops the start instead of failing a minute later.
func prepareBackupDir(dir, dbPath string) error {
	flagName := fmt.Sprintf("-backup-dir (%s)", envName("backup-dir"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%s: %v", flagName, err)
	}
	f, err := os.CreateTemp(dir, ".gatehouse-write-check-*")
	if err != nil {
		return fmt.Errorf("%s: cannot write to %s: %v", flagName, dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	// The retention deletes old files named like copies: the database
	// itself must not be one of them.
	if backup.IsCopyName(filepath.Base(dbPath)) {
		if same, _ := sameDir(dir, filepath.Dir(dbPath)); same {
			return fmt.Errorf("%s: the database %s is named like a backup copy in that directory, and would be deleted by the retention; choose another directory", flagName, dbPath)
		}
	}
	return nil
}

// sameDir reports whether a and b are the same directory.
func sameDir(a, b string) (bool, error) {
	ia, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	ib, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(ia, ib), nil
}

// backupCommand copies a live database consistently (gatehouse backup
// -db SRC DEST), or checks a copy (gatehouse backup -verify FILE).
func backupCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var c backupConfig
	fs := backupFlags(&c)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if c.Verify != "" {
		if fs.NArg() != 0 {
			return fmt.Errorf("usage: gatehouse backup -verify FILE")
		}
		return verifyCopy(ctx, c.Verify, stdout)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: gatehouse backup -db SRC DEST, or gatehouse backup -verify FILE")
	}
	if isPostgres(c.DB) {
		return errors.New("backup copies an SQLite file; for PostgreSQL use pg_dump (pg_dump -Fc -f auth.dump DATABASE_URL) and keep the secret key file with it")
	}
	store, err := db.Open(ctx, c.DB, db.Options{MustExist: true})
	if err != nil {
		return err
	}
	defer store.Close()
	dest := fs.Arg(0)
	if err := store.Backup(ctx, dest); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", c.DB, dest)
	return nil
}

// verifyCopy checks a backup (product.md §15): integrity, schema version,
// accounts and sessions, in one line; an error (one line, non-zero exit)
// when the file is not usable.
func verifyCopy(ctx context.Context, path string, stdout io.Writer) error {
	sum, err := db.Check(ctx, path)
	if err != nil {
		return fmt.Errorf("%s: NOT usable: %v", path, err)
	}
	fmt.Fprintf(stdout, "%s: ok: integrity ok, schema version %d of %d, %d accounts, %d sessions\n",
		path, sum.SchemaVersion, db.SchemaVersion(), sum.Accounts, sum.Sessions)
	return nil
}

// backupConfig is what `gatehouse backup` is told.
type backupConfig struct {
	DB     string
	Verify string
}

// backupFlags declares the flags of backup; help lists them from here.
func backupFlags(c *backupConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.StringVar(&c.DB, "db", "auth.db", "the SQLite file to copy")
	fs.StringVar(&c.Verify, "verify", "", "check the copy FILE instead of making one; exit status 2 if it is not usable")
	return fs
}

// printHelp lists every command and flag with its environment variable.
func printHelp(w io.Writer) {
	fmt.Fprint(w, `Gatehouse: accounts on your own server.

Usage:
  gatehouse [serve] [flags]            run the web server (the default command)
  gatehouse backup -db SRC DEST        copy a live database consistently to DEST
  gatehouse backup -verify FILE        check a copy: integrity, schema version, accounts, sessions
  gatehouse user COMMAND -db FILE ...  manage accounts (see "user commands" below)
  gatehouse copy -from FILE -to URL    move an SQLite database into an empty PostgreSQL one
  gatehouse client COMMAND -db FILE    manage OpenID Connect apps (see "client commands" below)
  gatehouse help                       show this help

Every flag -some-name can also be set with GATEHOUSE_SOME_NAME; a flag wins
over its environment variable.

serve flags:
`)
	// Every list of flags comes from the flag set its command parses, so
	// help cannot miss one.
	printFlags(w, serveFlags(&serveConfig{}))
	fmt.Fprint(w, "\nbackup flags:\n")
	printFlags(w, backupFlags(&backupConfig{}))
	fmt.Fprint(w, "\ncopy flags:\n")
	printFlags(w, copyFlags(&copyConfig{}))
	printUserHelp(w)
	printClientHelp(w)
}

// printFlags lists fs's flags, each with its environment variable.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		// An unset switch (-public) needs no "default false".
		b, isBool := f.Value.(interface{ IsBoolFlag() bool })
		switchOff := isBool && b.IsBoolFlag() && f.DefValue == "false"
		def := ""
		if f.DefValue != "" && !switchOff {
			def = fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(w, "  -%-18s %-30s %s%s\n", f.Name, "("+envName(f.Name)+")", f.Usage, def)
	})
}
