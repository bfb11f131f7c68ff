// Package mailtest runs a real SMTP server on 127.0.0.1 for tests and records
// every mail it receives, so tests check what a mail server would really see.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options selects a server variant. The zero value offers neither STARTTLS
// nor AUTH: a plain local relay.
type Options struct {
	// TLS offers STARTTLS with a self-signed certificate made at start;
	// trust it with ClientTLSConfig. AUTH is then offered only after STARTTLS.
	TLS bool
	// ImplicitTLS speaks TLS from the first byte, like an smtps:// server.
	ImplicitTLS bool
	// CertNames are extra DNS names for the certificate, which always covers
	// localhost, 127.0.0.1 and ::1.
	CertNames []string
	// User and Pass, when User is set, make AUTH PLAIN required before MAIL.
	User, Pass string
}

// Received is one mail as the server got it.
type Received struct {
	From string   // envelope sender (MAIL FROM)
	To   []string // envelope recipients (RCPT TO)
	Raw  []byte   // the DATA as sent
	// Subject is the decoded Subject header; Text and HTML are the decoded
	// text/plain and text/html parts, with CRLF turned into LF.
	Subject, Text, HTML string
	// TLS is true when the mail came over TLS (STARTTLS or implicit).
	TLS bool
	// Err is set when Raw could not be parsed; the other fields are kept.
	Err error
}

// Server is a running test SMTP server.
type Server struct {
	Addr string // host:port

	opts    Options
	srv     *smtp.Server
	roots   *x509.CertPool
	mu      sync.Mutex
	msgs    []Received
	changed chan struct{} // closed and replaced on each new mail
}

// Start runs a plain server: no STARTTLS, no AUTH. It stops at t's cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith runs a server with opts. It stops at t's cleanup.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts, changed: make(chan struct{})}

	var tlsConfig *tls.Config
	if opts.TLS || opts.ImplicitTLS {
		cert, roots, err := selfSigned(opts.CertNames)
		if err != nil {
			t.Fatalf("mailtest: certificate: %v", err)
		}
		s.roots = roots
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.Addr = l.Addr().String()
	if opts.ImplicitTLS {
		l = tls.NewListener(l, tlsConfig)
	}

	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.MaxMessageBytes = 1 << 20
	s.srv.ErrorLog = log.New(io.Discard, "", 0) // t.Log after the test ends would panic
	if opts.TLS {
		s.srv.TLSConfig = tlsConfig
	}
	// Without STARTTLS on offer, AUTH over plain text is what a local relay does.
	s.srv.AllowInsecureAuth = !opts.TLS

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.srv.Close()
		// Close also covers the window in which Serve has not yet
		// registered l with the server, which srv.Close would miss.
		_ = l.Close()
		<-done
	})
	return s
}

// URL returns smtp://127.0.0.1:PORT (smtps:// for ImplicitTLS), without
// credentials.
func (s *Server) URL() string {
	if s.opts.ImplicitTLS {
		return "smtps://" + s.Addr
	}
	return "smtp://" + s.Addr
}

// ClientTLSConfig returns a client config that trusts the server's
// certificate, or nil when the server has no TLS.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.roots == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}
}

// Messages returns a snapshot of the mails received so far.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// WaitFor waits until at least n mails have arrived and returns them; the
// test fails if that takes longer than timeout.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			msgs := append([]Received(nil), s.msgs...)
			s.mu.Unlock()
			return msgs
		}
		got, changed := len(s.msgs), s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("mailtest: got %d mails within %v, want at least %d", got, timeout, n)
			return nil
		}
	}
}

func (s *Server) add(r Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, r)
	close(s.changed)
	s.changed = make(chan struct{})
}

// session is one SMTP conversation.
type session struct {
	s      *Server
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (se *session) AuthMechanisms() []string {
	if se.s.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if se.s.opts.User == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != se.s.opts.User || password != se.s.opts.Pass {
			return smtp.ErrAuthFailed
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.opts.User != "" && !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := se.conn.TLSConnectionState()
	rec := Received{From: se.from, To: append([]string(nil), se.to...), Raw: raw, TLS: isTLS}
	rec.Subject, rec.Text, rec.HTML, rec.Err = parse(raw)
	se.s.add(rec)
	return nil
}

func (se *session) Reset() {
	se.from, se.to = "", nil
}

func (se *session) Logout() error { return nil }

// parse decodes the Subject and the first text/plain and text/html parts,
// descending into nested multiparts.
func parse(raw []byte) (subject, text, html string, err error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", "", "", err
	}
	subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return "", "", "", fmt.Errorf("subject: %w", err)
	}
	var p parts
	err = p.walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return subject, p.text, p.html, err
}

type parts struct{ text, html string }

func (p *parts) walk(contentType, encoding string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return err
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextRawPart: NextPart would silently decode quoted-printable
			// but not base64; decode both the same way below.
			part, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := p.walk(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("%s part: %w", mediaType, err)
	}
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch {
	case mediaType == "text/plain" && p.text == "":
		p.text = s
	case mediaType == "text/html" && p.html == "":
		p.html = s
	}
	return nil
}

// selfSigned makes a short-lived ECDSA certificate for the loopback names.
func selfSigned(names []string) (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              append([]string{"localhost"}, names...),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots, nil
}
