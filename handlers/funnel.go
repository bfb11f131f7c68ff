package handlers

import (
	"errors"

	"github.com/gin-gonic/gin"

	"gatehouse/account"
	"gatehouse/db"
)

// maxUserAgent bounds what we keep of the User-Agent header.
const maxUserAgent = 512

// signIn is where every way in ends (product.md §8), and the only place a
// session starts. A way in proves who the visitor is (the password today;
// a second factor, a passkey or an OpenID Connect authorization later
// call this with their own proof) and signIn:
//   - asks the account rules whether the account may be signed in to
//     (account.Usable: disabled accounts will be refused there);
//   - decides whether a further step remains (a second factor, §10: the
//     hook is needsSecondStep);
//   - renews the token (no fixation: the old one is deleted), and starts
//     the session only while the account's password is still the one the
//     proof read, so a sign-in checked while the password changed starts
//     nothing (db.ErrAccountChanged);
//   - ends the session this browser was signed in with, if any
//     (endPrevious);
//   - records the sign-in (the log, and the account's security activity,
//     §13).
//
// Throttling and recording failures happen in the proof itself
// (account.Service), before any hashing. An error is answered by the
// caller through failure (statusOf).
func (a *App) signIn(c *gin.Context, proof *account.Proof, remember bool) error {
	need, err := a.needsSecondStep(c, proof)
	if err != nil {
		return err
	}
	if need {
		// The caller remembers the pending step (beginSecondStep) instead
		// of starting the session: it knows where to go afterwards. A
		// disabled account learns that it is disabled only once the whole
		// proof is given, password and code (product.md §13).
		return errSecondStep
	}
	if err := account.Usable(proof.User); err != nil {
		return err
	}
	ctx := c.Request.Context()
	if err := a.sessions.RenewToken(ctx); err != nil {
		return err
	}
	// The renewed session keeps the browser's data; a password entered
	// before, perhaps by someone else, does not count for this sign-in's
	// admin actions (notePasswordOf below notes its own, if any).
	a.sessions.Remove(ctx, passwordAtKey)
	a.sessions.RememberMe(ctx, remember)
	// Before the sign-in is recorded: it compares with the earlier ones.
	newBrowser := a.newBrowser(c, proof)
	now := a.cfg.Now()
	ua := truncateUserAgent(c.Request.UserAgent())
	sid, err := a.store.CreateSession(ctx, db.NewSession{
		UserID:       proof.User.ID,
		PasswordHash: proof.User.PasswordHash,
		Token:        a.sessions.Token(ctx),
		Now:          now,
		Expires:      a.sessions.Deadline(ctx),
		IP:           c.ClientIP(),
		UserAgent:    ua,
		Method:       string(proof.Method),
		SecondFactor: proof.Method.SecondFactor(),
		// The sign-in's entry in the account's activity (§13) starts with
		// the session, in the same transaction.
		Event: &db.Event{At: now, Kind: account.EventSignedIn, Detail: string(proof.Method), IP: c.ClientIP(), UserAgent: ua},
	})
	// The previous session ends whether or not this one started: its token
	// died with the renewal. Only now, so that SQLite, which may reuse the
	// highest row id once it is free, gives the new session an id of its
	// own (an OpenID Connect prompt=login tells a new sign-in by its id).
	// A failure here is logged: the old row grants nothing without its
	// token, and expires.
	if perr := a.endPrevious(c); perr != nil {
		a.log.Error("end the previous session", "err", perr)
	}
	if err != nil {
		// Nothing started: the renewed token carries no sign-in.
		_ = a.sessions.Destroy(ctx)
		return err
	}
	a.sessions.Put(ctx, sessionIDKey, sid)
	a.log.Info("signed in", "user_id", proof.User.ID, "method", string(proof.Method), "ip", c.ClientIP())
	a.notePasswordOf(c, proof.Method)
	if newBrowser {
		a.mailNewDevice(c, proof)
	}
	return nil
}

// endPrevious ends the session this browser is signed in with, if any,
// when a sign-in (or its pending second step) replaces it: the browser
// is signing in again, perhaps as someone else. Renewing the token kills
// the old token (product.md §5); this ends its user_sessions row with it,
// so the session is no longer listed as active (§7) nor counted. No
// event is recorded for it: it is neither a sign-out nor a session ended
// from elsewhere (§13), and the sign-in that replaces it is recorded
// with the new session.
func (a *App) endPrevious(c *gin.Context) error {
	u := currentUser(c)
	if u == nil {
		return nil
	}
	err := a.accounts.EndSession(c.Request.Context(), u.ID, currentSession(c).ID)
	if errors.Is(err, db.ErrNotFound) {
		return nil // ended meanwhile
	}
	return err
}

// needsSecondStep reports whether the account asks for a second factor
// that this proof has not given (product.md §10): a password alone, for an
// account with the authenticator on or a passkey.
func (a *App) needsSecondStep(c *gin.Context, proof *account.Proof) (bool, error) {
	if proof.Method != account.MethodPassword {
		return false, nil
	}
	return a.store.HasSecondFactor(c.Request.Context(), proof.User.ID)
}
