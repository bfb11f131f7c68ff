package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"gatehouse/db"
	"gatehouse/oidcop"
)

// uriList is a flag that may be given more than once (-redirect-uri).
type uriList []string

func (u *uriList) String() string     { return strings.Join(*u, " ") }
func (u *uriList) Set(v string) error { *u = append(*u, v); return nil }

const clientUsage = "usage: gatehouse client add -db FILE NAME -redirect-uri URI [-redirect-uri URI ...] [-public] [-trusted] | client list -db FILE | client delete -db FILE CLIENT_ID"

// clientConfig is what a `gatehouse client` command is told.
type clientConfig struct {
	DB           string
	RedirectURIs uriList // client add only, like Public and Trusted
	Public       bool
	Trusted      bool
}

// clientFlags declares the flags of `client name`; help lists them from
// here (those of client add, which has them all).
func clientFlags(name string, c *clientConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("client "+name, flag.ContinueOnError)
	fs.StringVar(&c.DB, "db", "auth.db", "an SQLite file that exists, or postgres://…")
	// Accepted like every admin command's, though clients need no key.
	fs.String("secret-key-file", "", "the server's secret key file (accepted; apps need no key)")
	if name == "add" {
		fs.Var(&c.RedirectURIs, "redirect-uri", "client add only: an exact redirect URI of the app (repeat for more)")
		fs.BoolVar(&c.Public, "public", false, "client add only: an app without a secret (browser or mobile): PKCE S256 required")
		fs.BoolVar(&c.Trusted, "trusted", false, "client add only: skip the consent page for this app")
	}
	return fs
}

// client runs `gatehouse client add|list|delete` (product.md §12): the
// apps that sign in with Gatehouse accounts. The work is in package oidcop,
// which the admin page calls too.
func client(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(clientUsage)
	}
	name, args := args[0], args[1:]
	want := map[string]int{"add": 1, "list": 0, "delete": 1}
	n, known := want[name]
	if !known {
		return fmt.Errorf("unknown command 'client %s' (see 'gatehouse help')", name)
	}
	var cfg clientConfig
	fs := clientFlags(name, &cfg)
	positional, err := parseInterleaved(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(positional) != n {
		return errors.New(clientUsage)
	}
	b, err := openBackend(ctx, cfg.DB, "", true, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	store := b.db

	switch name {
	case "add":
		c, secret, err := oidcop.AddClient(ctx, store, oidcop.NewClient{
			Name: positional[0], RedirectURIs: cfg.RedirectURIs, Public: cfg.Public, Trusted: cfg.Trusted,
		}, time.Now())
		var bad *oidcop.ClientError
		if errors.As(err, &bad) {
			return fmt.Errorf("bad %s: %s", bad.Field, bad.Message)
		}
		if err != nil {
			return err
		}
		logClientAction(ctx, store, "added the app", c, stderr)
		fmt.Fprintf(stdout, "client_id: %s\n", c.ID)
		if secret != "" {
			fmt.Fprintf(stdout, "client_secret: %s\n", secret)
			fmt.Fprintln(stdout, "The secret is shown this once: only its hash is kept.")
		}
		return nil
	case "list":
		clients, err := store.ListClients(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT_ID\tNAME\tTYPE\tCONSENT\tREDIRECT_URIS\tCREATED")
		for _, c := range clients {
			kind, consent := "confidential", "asked"
			if c.Public {
				kind = "public"
			}
			if c.Trusted {
				consent = "trusted"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, terminalSafe(c.Name), kind, consent,
				terminalSafe(strings.Join(c.RedirectURIs, " ")), c.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	default: // delete
		c, err := store.Client(ctx, positional[0])
		if errors.Is(err, db.ErrNotFound) {
			return fmt.Errorf("unknown client %q", positional[0])
		} else if err != nil {
			return err
		}
		if err := oidcop.DeleteClient(ctx, store, c.ID); errors.Is(err, oidcop.ErrUnknownClient) {
			return fmt.Errorf("unknown client %q", positional[0])
		} else if err != nil {
			return err
		}
		logClientAction(ctx, store, "deleted the app", c, stderr)
		fmt.Fprintf(stdout, "deleted client %s; its tokens no longer work\n", positional[0])
		return nil
	}
}

// logClientAction writes an action on an app to the admin log as the
// admin page does (product.md §13): the app's name and client_id, no
// account.
func logClientAction(ctx context.Context, store database, what string, c *db.OIDCClient, stderr io.Writer) {
	adminLog(ctx, store, db.AdminLogEntry{At: time.Now(), Action: what, Detail: c.Name + " (" + c.ID + ")"}, stderr)
}

// parseInterleaved parses flags that may come after positional arguments
// (`client add -db F NAME -redirect-uri U`): Go's flag package stops at
// the first one, so the rest is parsed again after each.
func parseInterleaved(fs *flag.FlagSet, args []string, getenv func(string) string) ([]string, error) {
	if err := parseFlags(fs, args, getenv); err != nil {
		return nil, err
	}
	var positional []string
	for fs.NArg() > 0 {
		positional = append(positional, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return nil, fmt.Errorf("%v (see 'gatehouse help')", err)
		}
	}
	return positional, nil
}

// printClientHelp is the "client commands" part of `gatehouse help`.
func printClientHelp(w io.Writer) {
	fmt.Fprint(w, `
client commands (OpenID Connect apps; safe while the server runs):
  gatehouse client add -db FILE NAME -redirect-uri URI [-redirect-uri URI ...] [-public] [-trusted]
                                   register an app; prints client_id and, unless -public, client_secret (once)
  gatehouse client list -db FILE   list the apps
  gatehouse client delete -db FILE CLIENT_ID
                                   delete an app: its tokens stop working
`)
	// client add's flags are every client command's and its own.
	printFlags(w, clientFlags("add", &clientConfig{}))
}
