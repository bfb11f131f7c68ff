// Package mail sends Gatehouse's mails (verification, password reset, email
// change) over SMTP, or writes them to the log when no SMTP server is set up.
//
// The rules come from the product spec: smtp:// means mandatory STARTTLS and
// smtps:// means implicit TLS; a plain-text smtp:// server is tolerated only on
// a loopback address; each mail carries a text and an HTML part with the same
// link; no error ever shows the SMTP password.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"log/slog"
	netmail "net/mail"
	"regexp"
	"strings"
	"time"
)

// Message is one mail with a plain-text and an HTML body.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
	// Link is the single action link of the mail (verify, reset, confirm).
	// It must appear in both bodies; LogSender logs it so that Gatehouse can be
	// tried out without a mail server.
	Link string
}

// Sender sends mail. The app holds one; Send is safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Config comes from the -smtp-url and -mail-from flags.
type Config struct {
	// URL is smtp://[user:pass@]host[:port] or smtps://…; empty means LogSender.
	URL string
	// From is the sender address of every mail.
	From string
	// TLSConfig, when set, is used for STARTTLS and implicit TLS instead of
	// the system defaults: for tests and for servers behind a private CA.
	// ServerName defaults to the URL's host.
	TLSConfig *tls.Config
	// Timeout bounds one whole send (connect, TLS, AUTH, DATA); 0 means
	// DefaultTimeout. A shorter deadline on the context wins.
	Timeout time.Duration

	// dialAddr, when set, replaces host:port for the TCP dial only, so a
	// test can talk to a local server under a non-loopback name.
	dialAddr string
}

// DefaultTimeout bounds one send so that a stuck mail server never holds a
// request's goroutine for long.
const DefaultTimeout = 10 * time.Second

// New returns an SMTP sender for cfg (cfg.URL non-empty), or a *LogSender
// when cfg.URL is "". The caller warns at start that mail only goes to the log.
func New(cfg Config, logger *slog.Logger) (Sender, error) {
	if cfg.URL == "" {
		return &LogSender{Logger: logger}, nil
	}
	return newSMTPSender(cfg)
}

// LogSender writes each mail (to, subject and the link) to the log at Info
// level — for trying Gatehouse out, not for production. Bodies are not logged.
type LogSender struct {
	Logger *slog.Logger
}

// Send logs m instead of sending it.
func (l *LogSender) Send(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	logger := l.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.InfoContext(ctx, "mail not sent (no SMTP server configured)",
		"to", m.To, "subject", m.Subject, "link", m.link())
	return nil
}

var urlInText = regexp.MustCompile(`https?://[^\s<>"]+`)

// link returns the explicit Link, or else the first URL of the text body, so
// the log stays useful even if a caller forgets to fill Link.
func (m Message) link() string {
	if m.Link != "" {
		return m.Link
	}
	return urlInText.FindString(m.Text)
}

// validate catches a malformed mail before any network work: the spec wants
// both parts and the same link in each.
func (m Message) validate() error {
	if _, err := netmail.ParseAddress(m.To); err != nil {
		return fmt.Errorf("mail: invalid recipient address %q", m.To)
	}
	if strings.TrimSpace(m.Text) == "" || strings.TrimSpace(m.HTML) == "" {
		return errors.New("mail: a mail needs both a text and an HTML body")
	}
	if m.Link != "" {
		if !strings.Contains(m.Text, m.Link) {
			return errors.New("mail: the link is missing from the text body")
		}
		if !strings.Contains(m.HTML, m.Link) && !strings.Contains(m.HTML, html.EscapeString(m.Link)) {
			return errors.New("mail: the link is missing from the HTML body")
		}
	}
	return nil
}
