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
	"runtime"
	"syscall"
	"time"

	"gatehouse/db"
	"gatehouse/handlers"
	"gatehouse/logbuf"
	"gatehouse/mail"
	"gatehouse/password"
	"gatehouse/secretkey"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
		}
		os.Exit(2)
	}
}

// run is the whole program, so tests can start it with their own
// arguments, environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stderr)
	case "backup":
		return backup(ctx, args, getenv, stdout)
	case "user":
		return user(ctx, args, getenv, stdin, stdout, stderr)
	case "copy":
		return copyCommand(ctx, args, getenv, stdout)
	case "help", "-h", "--help":
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
	if err := parseFlags(serveFlags(&cfg), args, getenv); err != nil {
		return err
	}
	baseURL, proxies, err := cfg.validate()
	if err != nil {
		return err
	}
	mailCfg, err := cfg.mailConfig(baseURL)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
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
		RequestLog:      slog.New(slog.NewTextHandler(requests, nil)),
		Mail:            sender,
		HashWait:        writeTimeout * 2 / 3,
		ThrottleKey:     key.Derive("throttle"),
		SecretKey:       key,
	}, b.Backend, hasher)
	if err != nil {
		return err
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
	cleanupCtx, stopCleanup := context.WithCancel(context.Background())
	defer stopCleanup()
	go app.RunCleanup(cleanupCtx, 5*time.Minute)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
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
	return nil
}

// backup copies a live database consistently: gatehouse backup -db SRC DEST.
func backup(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	path := fs.String("db", "auth.db", "database to copy")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: gatehouse backup -db SRC DEST")
	}
	if isPostgres(*path) {
		return errors.New("backup copies an SQLite file; for PostgreSQL use pg_dump (pg_dump -Fc -f auth.dump DATABASE_URL) and keep the secret key file with it")
	}
	store, err := db.Open(ctx, *path, db.Options{MustExist: true})
	if err != nil {
		return err
	}
	defer store.Close()
	dest := fs.Arg(0)
	if err := store.Backup(ctx, dest); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", *path, dest)
	return nil
}

// printHelp lists every command and flag with its environment variable.
func printHelp(w io.Writer) {
	fmt.Fprint(w, `Gatehouse: accounts on your own server.

Usage:
  gatehouse [serve] [flags]            run the web server (the default command)
  gatehouse backup -db SRC DEST        copy a live database consistently to DEST
  gatehouse user COMMAND -db FILE ...  manage accounts (see "user commands" below)
  gatehouse copy -from FILE -to URL    move an SQLite database into an empty PostgreSQL one
  gatehouse help                       show this help

Every flag -some-name can also be set with GATEHOUSE_SOME_NAME; a flag wins
over its environment variable.

serve flags:
`)
	var c serveConfig
	printFlags(w, serveFlags(&c))
	fmt.Fprint(w, `
backup flags:
  -db FILE   (GATEHOUSE_DB)   database to copy (default "auth.db")
`)
	printUserHelp(w)
}

func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" {
			def = fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(w, "  -%-18s %-30s %s%s\n", f.Name, "("+envName(f.Name)+")", f.Usage, def)
	})
}
