package handlers

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/mail"
	"gatehouse/useragent"
	"gatehouse/views"
)

// How long links in mail work (product.md §7).
const (
	verifyLinkTTL = 24 * time.Hour
	resetLinkTTL  = time.Hour
)

// mailTimeout bounds one background mail job (lookups, token, SMTP). The
// SMTP sender has its own shorter timeout; this is the backstop.
const mailTimeout = 30 * time.Second

// mailer sends the app's mail in the background, so a slow or failing mail
// server never holds up or fails the page, and /forgot answers in the same
// time whether or not an account exists. wg lets shutdown wait for mail in
// flight (App.Wait).
type mailer struct {
	sender mail.Sender
	tmpl   *views.Mails
	wg     sync.WaitGroup
}

func newMailer(cfg Config) (*mailer, error) {
	tmpl, err := views.NewMails()
	if err != nil {
		return nil, err
	}
	sender := cfg.Mail
	if sender == nil {
		sender = &mail.LogSender{Logger: cfg.Logger}
	}
	return &mailer{sender: sender, tmpl: tmpl}, nil
}

// Wait blocks until every mail job started so far has finished (sent,
// failed or timed out), and until the OpenID Connect signing key of a
// first start is made and stored (oidcop.Provider.Wait). main calls it
// after the HTTP server has stopped, before closing the database, which
// both write to; tests call it before asserting that no mail was sent.
func (a *App) Wait() {
	a.mail.wg.Wait()
	a.WaitStartup()
}

// WaitStartup returns once the work New left running in the background
// is done: on the first start, making and storing the OpenID Connect
// signing key.
func (a *App) WaitStartup() {
	a.oidc.Wait()
}

// background runs job outside the request, with its own deadline, and logs
// its error. Errors must carry no token: jobs log what they did themselves.
func (a *App) background(what string, job func(ctx context.Context) error) {
	a.mail.wg.Add(1)
	go func() {
		defer a.mail.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), mailTimeout)
		defer cancel()
		if err := job(ctx); err != nil {
			a.log.Error("mail failed", "mail", what, "err", err)
		}
	}()
}

// link is an absolute URL under the base URL: path?token=token.
func (a *App) link(path, token string) string {
	u := *a.cfg.BaseURL
	u.Path = path
	u.RawQuery = url.Values{"token": {token}}.Encode()
	return u.String()
}

// siteURL is the base URL as mails name it.
func (a *App) siteURL() string { return a.cfg.BaseURL.String() }

// sendMail renders mail name for d and sends it to d.Email. It logs the
// recipient and kind, never the link (the LogSender, used without SMTP,
// is the one place a link is logged, on purpose).
func (a *App) sendMail(ctx context.Context, name string, userID int64, d views.MailData) error {
	d.SiteURL = a.siteURL()
	subject, text, html, err := a.mail.tmpl.Render(name, d)
	if err != nil {
		return err
	}
	err = a.mail.sender.Send(ctx, mail.Message{To: d.Email, Subject: subject, Text: text, HTML: html, Link: d.Link})
	if a.metrics != nil {
		a.metrics.Mail(name, err)
	}
	if err != nil {
		return err
	}
	// The LogSender has already said the mail went to the log.
	if _, toLog := a.mail.sender.(*mail.LogSender); !toLog {
		a.log.Info("mail sent", "mail", name, "user_id", userID, "to", d.Email)
	}
	return nil
}

// sendVerification mails user a new verification link, in the background.
func (a *App) sendVerification(user *db.User) {
	a.background(views.MailVerify, func(ctx context.Context) error {
		now := a.accounts.Now()
		token, err := a.store.CreateLinkToken(ctx, user.ID, db.TokenVerify, "", now, now.Add(verifyLinkTTL))
		if err != nil {
			return err
		}
		return a.sendMail(ctx, views.MailVerify, user.ID, views.MailData{
			Username: user.Username, Email: user.Email,
			Link: a.link("/verify", token), Valid: "24 hours",
		})
	})
}

// sendReset mails a reset link to the account with that address, if there
// is one, in the background: the request does the same work either way.
// When it goes out, the event requested (its kind, address and browser;
// no kind for none) is recorded in the account's activity.
func (a *App) sendReset(email string, requested db.Event) {
	a.background(views.MailReset, func(ctx context.Context) error {
		user, err := a.store.UserByEmail(ctx, email)
		if errors.Is(err, db.ErrNotFound) {
			a.log.Info("password reset asked for an unknown address")
			return nil
		}
		if err != nil {
			return err
		}
		now := a.accounts.Now()
		token, err := a.store.CreateLinkToken(ctx, user.ID, db.TokenReset, "", now, now.Add(resetLinkTTL))
		if err != nil {
			return err
		}
		if requested.Kind != "" {
			requested.UserID = user.ID
			a.accounts.Record(ctx, requested)
		}
		return a.sendMail(ctx, views.MailReset, user.ID, views.MailData{
			Username: user.Username, Email: user.Email,
			Link: a.link("/reset", token), Valid: "1 hour",
		})
	})
}

// sendEmailChange mails the confirmation link to the new address and a
// notice to the old one, in the background.
func (a *App) sendEmailChange(user *db.User, newEmail string) {
	a.background(views.MailEmailChange, func(ctx context.Context) error {
		now := a.accounts.Now()
		token, err := a.store.CreateLinkToken(ctx, user.ID, db.TokenEmailChange, newEmail, now, now.Add(verifyLinkTTL))
		if err != nil {
			return err
		}
		err = a.sendMail(ctx, views.MailEmailChange, user.ID, views.MailData{
			Username: user.Username, Email: newEmail, NewEmail: newEmail,
			Link: a.link("/verify", token), Valid: "24 hours",
		})
		// The notice goes out even if the confirmation failed: the owner of
		// the old address should hear of the attempt either way.
		forgot := *a.cfg.BaseURL
		forgot.Path = "/forgot"
		nerr := a.sendMail(ctx, views.MailEmailChangeNotice, user.ID, views.MailData{
			Username: user.Username, Email: user.Email, NewEmail: newEmail,
			Link: forgot.String(),
		})
		return errors.Join(err, nerr)
	})
}

// pageURL is an absolute URL of a page under the base URL.
func (a *App) pageURL(path string) string {
	u := *a.cfg.BaseURL
	u.Path = path
	return u.String()
}

// newBrowser reports whether this sign-in comes from a browser (name and
// system) the account has not signed in from in 90 days (product.md §13):
// never the sign-in that comes with sign-up. It must be asked before the
// sign-in is recorded. A failed look-up is logged and counts as known.
func (a *App) newBrowser(c *gin.Context, proof *account.Proof) bool {
	if proof.NewAccount {
		return false
	}
	isNew, err := a.accounts.NewBrowser(c.Request.Context(), proof.User.ID, truncateUserAgent(c.Request.UserAgent()))
	if err != nil {
		a.log.Error("new-device check", "user_id", proof.User.ID, "err", err)
		return false
	}
	return isNew
}

// mailNewDevice sends the new-device mail of product.md §13 for a sign-in
// from a new browser (newBrowser): at most one an hour per account, a cap
// in the throttle's store so that every instance shares it.
func (a *App) mailNewDevice(c *gin.Context, proof *account.Proof) {
	ctx := c.Request.Context()
	if !a.accounts.TakeNewDeviceMail(ctx, proof.User.ID) {
		return
	}
	ua := truncateUserAgent(c.Request.UserAgent())
	user, browser, ip, at := proof.User, useragent.Describe(ua), c.ClientIP(), a.cfg.Now()
	a.background(views.MailNewDevice, func(ctx context.Context) error {
		return a.sendMail(ctx, views.MailNewDevice, user.ID, views.MailData{
			Username: user.Username, Email: user.Email,
			When: at.UTC().Format("2 January 2006 at 15:04 UTC"), Browser: browser, Address: ip,
			Link: a.pageURL("/account/activity"), ForgotLink: a.pageURL("/forgot"),
		})
	})
}
