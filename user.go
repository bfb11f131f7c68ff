package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/password"
	"gatehouse/rules"
	"gatehouse/secretkey"
	"gatehouse/throttle"
)

// userCommand is one `gatehouse user` subcommand: its arguments after -db,
// and what it does.
type userCommand struct {
	args    []string // names of the positional arguments, for the usage line
	summary string
	run     func(ctx context.Context, c *admin, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// admin is what the user commands work with: the store, and the account
// rules that the web layer uses too, so a rule cannot differ between them.
type admin struct {
	store    database
	accounts *account.Service
	remove   bool // -remove, of `user admin`
}

// userCommands are the admin commands of product.md §7, in help order.
var userCommands = []struct {
	name string
	cmd  userCommand
}{
	{"list", userCommand{nil, "list every account", userList}},
	{"add", userCommand{[]string{"USERNAME", "EMAIL"}, "create an account; password from stdin (one line)", userAdd}},
	{"set-password", userCommand{[]string{"USERNAME"}, "set a new password from stdin (one line); ends the user's sessions", userSetPassword}},
	{"delete", userCommand{[]string{"USERNAME"}, "delete an account with its sessions and links", userDelete}},
	{"signout", userCommand{[]string{"USERNAME"}, "end every session of the user", userSignout}},
	{"verify", userCommand{[]string{"USERNAME"}, "mark the user's email address as verified", userVerify}},
	{"admin", userCommand{[]string{"[-remove]", "USERNAME"}, "grant the admin role (-remove takes it away)", userAdmin}},
	{"disable", userCommand{[]string{"USERNAME"}, "disable an account: no sign-in, every session ends", userDisable}},
	{"enable", userCommand{[]string{"USERNAME"}, "enable a disabled account again", userEnable}},
	{"reset-2fa", userCommand{[]string{"USERNAME"}, "turn off every second factor (authenticator, recovery codes, passkeys); ends the user's sessions", userResetSecondFactors}},
	{"groups", userCommand{[]string{"USERNAME", "GROUP,GROUP"}, `set the user's groups (forward-auth rules); "" clears them`, userGroups}},
}

// userUsage is the usage line of one subcommand.
func userUsage(name string, c userCommand) string {
	return strings.TrimSpace("gatehouse user " + name + " -db FILE " + strings.Join(c.args, " "))
}

// userConfig is what a `gatehouse user` command is told.
type userConfig struct {
	DB            string
	RedisURL      string
	SecretKeyFile string
	Remove        bool // user admin only
}

// userFlags declares the flags of `user name`; help lists them from here
// (those of user admin, which has them all).
func userFlags(name string, c *userConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("user "+name, flag.ContinueOnError)
	fs.StringVar(&c.DB, "db", "auth.db", "database to change: an SQLite file that exists, or postgres://…")
	fs.StringVar(&c.RedisURL, "redis-url", "", "the server's Redis, so that ending sessions reaches them (default none)")
	fs.StringVar(&c.SecretKeyFile, "secret-key-file", "", "the server's secret key file; when given, it must be the database's key")
	if name == "admin" {
		fs.BoolVar(&c.Remove, "remove", false, "user admin only: take the admin role away instead of granting it")
	}
	return fs
}

// user runs `gatehouse user SUBCOMMAND -db FILE ARGS...`. Each subcommand
// opens the database itself, so it is safe while the server runs: SQLite
// serialises the writes and the busy timeout makes this wait for the
// server's lock instead of failing. Errors are one line (main prefixes
// "gatehouse:"), and the exit status is non-zero.
func user(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: gatehouse user list|add|set-password|delete|signout|verify|groups|admin|disable|enable|reset-2fa -db FILE ... (see 'gatehouse help')")
	}
	name, args := args[0], args[1:]
	var cmd *userCommand
	for i := range userCommands {
		if userCommands[i].name == name {
			cmd = &userCommands[i].cmd
		}
	}
	if cmd == nil {
		return fmt.Errorf("unknown command 'user %s' (see 'gatehouse help')", name)
	}
	var c userConfig
	fs := userFlags(name, &c)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() != len(positional(cmd.args)) {
		return fmt.Errorf("usage: %s", userUsage(name, *cmd))
	}
	if err := checkDB(c.DB); err != nil {
		return err
	}
	if err := checkRedisURL(c.RedisURL); err != nil {
		return err
	}
	// MustExist: a mistyped path must not create an empty database.
	b, err := openBackend(ctx, c.DB, c.RedisURL, true, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	// product.md §14: the commands take the server's key like its other
	// settings; a key that is not the database's is refused here as at
	// the server's start. It is never made by a command.
	if c.SecretKeyFile != "" {
		if _, err := os.Stat(c.SecretKeyFile); err != nil {
			return fmt.Errorf("secret key %s: %w", c.SecretKeyFile, err)
		}
		if _, err := secretkey.LoadFor(ctx, b.db, c.SecretKeyFile); err != nil {
			return err
		}
	}
	accounts := account.New(account.Config{
		Store:    b.db,
		Sessions: b.Sessions,
		// One hash at a time, with the parameters the server uses.
		Hasher: password.NewHasher(password.OWASP, 1),
		Limits: throttle.New(b.Throttle, nil),
	})
	return cmd.run(ctx, &admin{store: b.db, accounts: accounts, remove: c.Remove}, fs.Args(), stdin, stdout, stderr)
}

// positional drops the optional flags ("[-remove]") from a command's
// argument names.
func positional(args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "[") {
			out = append(out, a)
		}
	}
	return out
}

// userList prints a table of every account.
func userList(ctx context.Context, c *admin, _ []string, _ io.Reader, stdout, _ io.Writer) error {
	users, err := c.store.ListUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSERNAME\tEMAIL\tVERIFIED\tCREATED")
	for _, u := range users {
		verified := "no"
		if u.EmailVerified() {
			verified = "yes"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", u.ID, terminalSafe(u.Username), terminalSafe(u.Email), verified, u.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

// terminalSafe escapes, Go-style (\u202e, or \xff for a byte that is not
// UTF-8), what a terminal would obey or hide: control characters (an ESC
// or a C1 CSI starts a command), bidi overrides that turn the rest of the
// row round, and other invisible characters (rules.Invisible). Rows written
// before the §4 rules may hold them. A backslash is doubled, so an escape
// cannot be faked.
func terminalSafe(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case r == '\\':
			b.WriteString(`\\`)
		case rules.Invisible(r):
			if r <= 0xffff {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
		s = s[size:]
	}
	return b.String()
}

// userAdd creates an account with the password read from stdin, under the
// sign-up rules. The address starts unverified, as after a sign-up. The
// name and address are checked before the password is asked for, so a
// clash is told at once; Create checks everything again.
func userAdd(ctx context.Context, c *admin, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if msg, err := c.accounts.UsernameProblem(ctx, args[0], ""); err != nil {
		return err
	} else if msg != "" {
		return fieldError("username", args[0], msg)
	}
	if msg, err := c.accounts.EmailProblem(ctx, args[1], ""); err != nil {
		return err
	} else if msg != "" {
		return fieldError("email", args[1], msg)
	}
	pw, err := readPassword(stdin, stderr, rules.NormalizeUsername(args[0]))
	if err != nil {
		return err
	}
	u, err := c.accounts.Create(ctx, account.NewAccount{Username: args[0], Email: args[1], Password: pw, PasswordConfirm: pw})
	if err != nil {
		return commandError(err, args[0], args[1])
	}
	fmt.Fprintf(stdout, "created user %s <%s> (id %d)\n", u.Username, u.Email, u.ID)
	return nil
}

// fieldError is the one line that says what is wrong with an argument.
func fieldError(field, value, msg string) error {
	switch {
	case field == "username" && msg == rules.MsgUsernameTaken:
		return fmt.Errorf("username %q is taken", rules.NormalizeUsername(value))
	case field == "email" && msg == rules.MsgEmailTaken:
		return fmt.Errorf("email address %q is used by another account", rules.NormalizeEmail(value))
	case field == "username":
		return fmt.Errorf("bad username %q: %s", value, msg)
	case field == "email":
		return fmt.Errorf("bad email address %q: %s", value, msg)
	}
	return fmt.Errorf("bad password: %s", msg)
}

// commandError turns an error of the account rules into one line: the
// first problem of the input, or the error itself.
func commandError(err error, username, email string) error {
	var p *account.Problems
	if !errors.As(err, &p) {
		return err
	}
	field := p.Order[0]
	value := map[string]string{"username": username, "email": email}[field]
	return fieldError(field, value, p.Fields[field])
}

// userSetPassword replaces a user's password with one read from stdin and
// ends all their sessions, as a reset link does: an admin sets a password
// when the old one is lost or known to someone else.
func userSetPassword(ctx context.Context, c *admin, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	u, err := c.find(ctx, args[0])
	if err != nil {
		return err
	}
	pw, err := readPassword(stdin, stderr, u.Username)
	if err != nil {
		return err
	}
	ended, err := c.accounts.SetPassword(ctx, u, pw)
	if err != nil {
		return commandError(err, "", "")
	}
	c.logAction(ctx, u, "set a new password", false, stderr)
	fmt.Fprintf(stdout, "password of %s changed; %s ended\n", u.Username, plural(ended, "session"))
	return nil
}

// userDelete deletes an account; its sessions and link tokens go with it.
func userDelete(ctx context.Context, c *admin, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	u, err := c.find(ctx, args[0])
	if err != nil {
		return err
	}
	if err := c.accounts.Delete(ctx, u); err != nil {
		return err
	}
	c.logAction(ctx, u, "deleted the account", true, stderr)
	fmt.Fprintf(stdout, "deleted user %s <%s>\n", u.Username, u.Email)
	return nil
}

// userSignout ends every session of a user: their next request is signed out.
func userSignout(ctx context.Context, c *admin, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	u, err := c.find(ctx, args[0])
	if err != nil {
		return err
	}
	n, err := c.accounts.SignOutEverywhere(ctx, u.ID, 0)
	if err != nil {
		return err
	}
	c.logAction(ctx, u, "signed out everywhere", false, stderr)
	fmt.Fprintf(stdout, "signed out %s: %s ended\n", u.Username, plural(n, "session"))
	return nil
}

// userResetSecondFactors turns off every second factor of a user who has
// lost them (product.md §10) and ends their sessions; the next sign-in
// takes the password alone.
func userResetSecondFactors(ctx context.Context, c *admin, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	u, err := c.find(ctx, args[0])
	if err != nil {
		return err
	}
	n, err := c.accounts.ResetSecondFactors(ctx, u.ID)
	if err != nil {
		return err
	}
	c.logAction(ctx, u, "reset two-step sign-in", false, stderr)
	fmt.Fprintf(stdout, "reset two-step sign-in of %s: %s ended\n", u.Username, plural(n, "session"))
	return nil
}

// userVerify marks a user's address verified, as opening the link would.
func userVerify(ctx context.Context, c *admin, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	u, err := c.find(ctx, args[0])
	if err != nil {
		return err
	}
	if err := c.accounts.Verify(ctx, u.ID); errors.Is(err, db.ErrNotFound) {
		return errUnknownUser(args[0])
	} else if err != nil {
		return err
	}
	c.logAction(ctx, u, "marked the email address verified", false, stderr)
	fmt.Fprintf(stdout, "email address %s of %s is verified\n", u.Email, u.Username)
	return nil
}

// userGroups sets a user's groups from a comma-separated list (spaces
// around names ignored); an empty list clears them. The next forward-auth
// check sees them.
func userGroups(ctx context.Context, c *admin, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	u, err := c.find(ctx, args[0])
	if err != nil {
		return err
	}
	groups := account.SplitGroups(args[1])
	err = c.accounts.SetGroups(ctx, u, groups, 0)
	var p *account.Problems
	if errors.As(err, &p) {
		for _, g := range groups {
			if msg := rules.GroupError(g); msg != "" {
				return fmt.Errorf("bad group %q: %s", g, msg)
			}
		}
		return fmt.Errorf("bad groups: %s", p.Fields["groups"])
	}
	if errors.Is(err, db.ErrNotFound) {
		return errUnknownUser(args[0])
	}
	if err != nil {
		return err
	}
	// SetGroups recorded the change in the account's activity; the admin
	// log gets it as the admin page writes it (product.md §13).
	adminLog(ctx, c.store, db.AdminLogEntry{
		At: c.accounts.Now(), TargetID: u.ID, TargetName: u.Username, Action: "set groups", Detail: account.GroupsDetail(groups),
	}, stderr)
	if len(groups) == 0 {
		fmt.Fprintf(stdout, "groups of %s cleared\n", u.Username)
		return nil
	}
	fmt.Fprintf(stdout, "groups of %s: %s\n", u.Username, db.JoinGroups(groups))
	return nil
}

// userAdmin grants the admin role, or with -remove takes it away
// (product.md §13).
func userAdmin(ctx context.Context, c *admin, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	u, err := c.find(ctx, args[0])
	if err != nil {
		return err
	}
	if err := c.accounts.SetAdmin(ctx, u.ID, !c.remove); errors.Is(err, db.ErrNotFound) {
		return errUnknownUser(args[0])
	} else if err != nil {
		return err
	}
	if c.remove {
		c.logAction(ctx, u, "removed admin", false, stderr)
		fmt.Fprintf(stdout, "%s is no longer an admin\n", u.Username)
	} else {
		c.logAction(ctx, u, "granted admin", false, stderr)
		fmt.Fprintf(stdout, "%s is an admin\n", u.Username)
	}
	return nil
}

// userDisable disables an account: it cannot sign in, and every session
// of it ends at once.
func userDisable(ctx context.Context, c *admin, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	u, err := c.find(ctx, args[0])
	if err != nil {
		return err
	}
	n, err := c.accounts.Disable(ctx, u.ID)
	if errors.Is(err, db.ErrNotFound) {
		return errUnknownUser(args[0])
	} else if err != nil {
		return err
	}
	c.logAction(ctx, u, "disabled the account", false, stderr)
	fmt.Fprintf(stdout, "disabled %s: %s ended\n", u.Username, plural(n, "session"))
	return nil
}

// userEnable lets a disabled account sign in again.
func userEnable(ctx context.Context, c *admin, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	u, err := c.find(ctx, args[0])
	if err != nil {
		return err
	}
	if err := c.accounts.Enable(ctx, u.ID); errors.Is(err, db.ErrNotFound) {
		return errUnknownUser(args[0])
	} else if err != nil {
		return err
	}
	c.logAction(ctx, u, "enabled the account", false, stderr)
	fmt.Fprintf(stdout, "enabled %s\n", u.Username)
	return nil
}

// cliActor is how the admin log names the admin commands.
const cliActor = "(command line)"

// logAction records an admin command's action in the admin log and, while
// the account exists, in its activity (product.md §13). A failure to
// record is said on stderr: the action is done.
func (c *admin) logAction(ctx context.Context, u *db.User, what string, gone bool, stderr io.Writer) {
	targetID := u.ID
	if gone {
		targetID = 0
	}
	adminLog(ctx, c.store, db.AdminLogEntry{
		At: c.accounts.Now(), TargetID: targetID, TargetName: u.Username, Action: what,
	}, stderr)
	if !gone {
		c.accounts.Record(ctx, db.Event{UserID: u.ID, Kind: account.EventAdminAction, Detail: what + " " + cliActor})
	}
}

// adminLog writes one entry of the admin log, by the command line. A
// failure to write it is said on stderr: the action is done.
func adminLog(ctx context.Context, store database, e db.AdminLogEntry, stderr io.Writer) {
	e.ActorName = cliActor
	if err := store.AddAdminLog(ctx, e); err != nil {
		fmt.Fprintf(stderr, "gatehouse: the admin log was not written: %v\n", err)
	}
}

// find looks a user up by username or, as sign-in does, by email
// address, without regard to case.
func (c *admin) find(ctx context.Context, login string) (*db.User, error) {
	u, err := c.accounts.Find(ctx, login)
	if errors.Is(err, db.ErrNotFound) {
		return nil, errUnknownUser(login)
	}
	return u, err
}

func errUnknownUser(login string) error { return fmt.Errorf("unknown user %q", login) }

// maxPasswordLine bounds what is read from stdin: far more than the
// longest allowed password, so an overlong one gets the rule's message.
const maxPasswordLine = 4096

// readPassword reads one line from stdin: the new password, checked by
// the account rules afterwards. Only the line ending is removed: spaces
// may be part of a password.
func readPassword(stdin io.Reader, stderr io.Writer, username string) (string, error) {
	if stdin == nil {
		return "", errors.New("no password: give it on standard input, one line")
	}
	// At a terminal, ask and keep the typing off the screen.
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "New password for %s: ", username)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password from the terminal: %w", err)
		}
		stdin = strings.NewReader(string(b) + "\n")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, maxPasswordLine)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	if errors.Is(err, io.EOF) && len(line) == maxPasswordLine {
		return "", fmt.Errorf("bad password: %s", rules.MsgPasswordLong)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if pw == "" {
		return "", errors.New("no password: give it on standard input, one line")
	}
	return pw, nil
}

// plural says "1 session" or "3 sessions".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// printUserHelp is the "user commands" part of `gatehouse help`.
func printUserHelp(w io.Writer) {
	fmt.Fprint(w, `
user commands (safe while the server runs; -db must come right after the command):
`)
	for _, c := range userCommands {
		fmt.Fprintf(w, "  %-52s %s\n", userUsage(c.name, c.cmd), c.cmd.summary)
	}
	// user admin's flags are every user command's and -remove.
	printFlags(w, userFlags("admin", &userConfig{}))
}
