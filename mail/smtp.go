package mail

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	netmail "net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// smtpSender sends each mail over a fresh SMTP connection. Mails are rare
// (sign-up, reset, email change), so a pool would buy nothing but state.
type smtpSender struct {
	host        string // without brackets, as in the certificate
	port        int
	addr        string // host:port, for error messages
	implicitTLS bool
	policy      gomail.TLSPolicy
	user, pass  string
	from        string
	tlsConfig   *tls.Config
	timeout     time.Duration
	dialAddr    string // where the TCP dial goes: addr, unless a test says otherwise
}

// authMechs lists the mechanisms we try, best first. The -NOENC variants only
// lift go-mail's own "TLS or the name localhost" guard: by the time AUTH runs
// the connection is either TLS (smtps, or STARTTLS, which tlsPolicyFor makes
// mandatory) or a loopback connection, where plain text is allowed by the spec.
// go-mail's guard knows only "localhost", "127.0.0.1" and "::1", and its
// auto-discovery never picks PLAIN/LOGIN without TLS, so a local relay with
// AUTH on 127.0.0.2 would fail without this list.
var authMechs = []gomail.SMTPAuthType{
	gomail.SMTPAuthSCRAMSHA256,
	gomail.SMTPAuthSCRAMSHA1,
	gomail.SMTPAuthPlainNoEnc,
	gomail.SMTPAuthLoginNoEnc,
}

func newSMTPSender(cfg Config) (*smtpSender, error) {
	u, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if _, err := netmail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("invalid -mail-from address %q", cfg.From)
	}
	port, _ := strconv.Atoi(u.Port()) // ParseURL checked it
	s := &smtpSender{
		host:        u.Hostname(),
		port:        port,
		addr:        u.Host, // ParseURL joined host and port
		implicitTLS: u.Scheme == "smtps",
		from:        cfg.From,
		timeout:     cfg.Timeout,
		dialAddr:    cmp.Or(cfg.dialAddr, u.Host),
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	s.policy = tlsPolicyFor(s.host)
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	s.tlsConfig = &tls.Config{}
	if cfg.TLSConfig != nil {
		s.tlsConfig = cfg.TLSConfig.Clone()
	}
	if s.tlsConfig.ServerName == "" {
		s.tlsConfig.ServerName = s.host
	}
	if s.tlsConfig.MinVersion == 0 {
		s.tlsConfig.MinVersion = tls.VersionTLS12
	}
	return s, nil
}

// tlsPolicyFor decides STARTTLS for an smtp:// host: mandatory, except on a
// loopback host, where a relay without STARTTLS may be used in plain text
// (a server that offers STARTTLS is still asked for it).
func tlsPolicyFor(host string) gomail.TLSPolicy {
	if isLoopback(host) {
		return gomail.TLSOpportunistic
	}
	return gomail.TLSMandatory
}

// isLoopback reports whether host is the name localhost or a loopback IP
// (127.0.0.0/8, ::1). Names are not resolved: a name that merely resolves to
// 127.0.0.1 could resolve elsewhere tomorrow.
func isLoopback(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// Send delivers m, giving up when ctx ends or after the sender's timeout.
func (s *smtpSender) Send(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	msg, err := s.message(m)
	if err != nil {
		return s.fail(m, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	// go-mail's deadline covers the dial only; closing the connection when
	// ctx ends makes every later step honour ctx too.
	var stops []func() bool
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	dial := func(dialCtx context.Context, network, _ string) (net.Conn, error) {
		conn, err := s.dial(dialCtx, network)
		if err != nil {
			return nil, err
		}
		stops = append(stops, context.AfterFunc(ctx, func() { conn.Close() }))
		return conn, nil
	}

	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSPolicy(s.policy),
		gomail.WithTLSConfig(s.tlsConfig),
		gomail.WithDialContextFunc(dial),
	}
	if s.implicitTLS {
		opts = append(opts, gomail.WithSSL())
	}
	if s.user != "" {
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(authMechs...),
			gomail.WithUsername(s.user),
			gomail.WithPassword(s.pass))
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return s.fail(m, err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		return s.fail(m, err)
	}
	return nil
}

// dial opens the TCP connection, and for smtps the TLS session on it. A
// custom dialer replaces go-mail's so that Send can close it when ctx ends.
func (s *smtpSender) dial(ctx context.Context, network string) (net.Conn, error) {
	d := &net.Dialer{}
	if s.implicitTLS {
		td := &tls.Dialer{NetDialer: d, Config: s.tlsConfig}
		return td.DialContext(ctx, network, s.dialAddr)
	}
	return d.DialContext(ctx, network, s.dialAddr)
}

// message builds the MIME mail: multipart/alternative with text then HTML,
// so clients that show HTML pick the last part.
func (s *smtpSender) message(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.from); err != nil {
		return nil, err
	}
	if err := msg.To(m.To); err != nil {
		return nil, err
	}
	// A line break in a header would start a new header.
	msg.Subject(strings.Join(strings.Fields(m.Subject), " "))
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg, nil
}

// fail wraps err for the caller's log, with the password scrubbed from the
// whole chain's text in case a server or library ever echoes it.
func (s *smtpSender) fail(m Message, err error) error {
	err = fmt.Errorf("mail: sending to %s via %s: %w", m.To, s.addr, err)
	if s.pass == "" {
		return err
	}
	text := err.Error()
	for _, p := range []string{s.pass, url.QueryEscape(s.pass), url.PathEscape(s.pass)} {
		text = strings.ReplaceAll(text, p, "[password]")
	}
	return &redactedError{text: text, err: err}
}

// redactedError shows a scrubbed text but keeps the chain for errors.Is.
type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }
