package mail

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"gatehouse/mail/mailtest"
)

const testLink = "https://auth.example.com/verify?token=Zm9v_YmFy-YmF6&next=%2Fdashboard"

// testMessage has the link in both bodies, HTML-escaped in the HTML one as a
// template would write it.
func testMessage() Message {
	return Message{
		To:      "alice@example.com",
		Subject: "Confirm your email address",
		Text:    "Hello alice,\n\nopen this link to confirm your address:\n" + testLink + "\n",
		HTML:    `<p>Hello alice,</p><p><a href="` + strings.ReplaceAll(testLink, "&", "&amp;") + `">Confirm</a></p>`,
		Link:    testLink,
	}
}

// send builds a sender from cfg and sends the test message.
func send(t *testing.T, cfg Config) error {
	t.Helper()
	if cfg.From == "" {
		cfg.From = "gatehouse@auth.example.com"
	}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s.Send(context.Background(), testMessage())
}

// withUser puts user:pass into a mailtest URL.
func withUser(raw, user, pass string) string {
	u, _ := url.Parse(raw)
	u.User = url.UserPassword(user, pass)
	return u.String()
}

func TestSendPlainLoopback(t *testing.T) {
	srv := mailtest.Start(t)
	if err := send(t, Config{URL: srv.URL()}); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, 1, 5*time.Second)[0]
	if got.Err != nil {
		t.Fatalf("parse: %v", got.Err)
	}
	if got.From != "gatehouse@auth.example.com" || len(got.To) != 1 || got.To[0] != "alice@example.com" {
		t.Errorf("envelope = %q -> %q", got.From, got.To)
	}
	if got.Subject != "Confirm your email address" {
		t.Errorf("subject = %q", got.Subject)
	}
	if !strings.Contains(got.Text, testLink) {
		t.Errorf("text part lacks the link: %q", got.Text)
	}
	if !strings.Contains(got.HTML, strings.ReplaceAll(testLink, "&", "&amp;")) {
		t.Errorf("html part lacks the link: %q", got.HTML)
	}
	if !strings.Contains(string(got.Raw), "multipart/alternative") {
		t.Error("mail is not multipart/alternative")
	}
	if got.TLS {
		t.Error("TLS used with a server that offers none")
	}
}

func TestSendAuthLoopback(t *testing.T) {
	const pass = "s3cr/t p@ss:wörd"
	srv := mailtest.StartWith(t, mailtest.Options{User: "alice", Pass: pass})
	if err := send(t, Config{URL: withUser(srv.URL(), "alice", pass)}); err != nil {
		t.Fatal(err)
	}
	srv.WaitFor(t, 1, 5*time.Second)
}

// go-mail allows PLAIN without TLS only for the names localhost, 127.0.0.1
// and ::1; the spec allows all of 127.0.0.0/8.
func TestSendAuthLoopbackOtherAddress(t *testing.T) {
	srv := mailtest.StartWith(t, mailtest.Options{User: "alice", Pass: "pw"})
	err := send(t, Config{URL: "smtp://alice:pw@127.0.0.2:2525", dialAddr: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	srv.WaitFor(t, 1, 5*time.Second)
}

func TestSendWrongPasswordHidesPassword(t *testing.T) {
	const wrong = "hunter2-wrong"
	srv := mailtest.StartWith(t, mailtest.Options{User: "alice", Pass: "right"})
	err := send(t, Config{URL: withUser(srv.URL(), "alice", wrong)})
	if err == nil {
		t.Fatal("sent with a wrong password")
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error shows the password: %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server got %d mails", n)
	}
}

// A non-loopback name is dialled to the local server: the real conversation
// shows that without STARTTLS nothing is sent, not even the credentials.
func TestSendRefusesPlainTextToRemoteHost(t *testing.T) {
	srv := mailtest.StartWith(t, mailtest.Options{User: "alice", Pass: "pw"})
	err := send(t, Config{URL: "smtp://alice:pw@mail.example.test:587", dialAddr: srv.Addr})
	if err == nil {
		t.Fatal("sent in plain text to a non-loopback host")
	}
	if !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("error does not say why: %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server got %d mails", n)
	}
}

func TestSendSTARTTLSToRemoteHost(t *testing.T) {
	srv := mailtest.StartWith(t, mailtest.Options{TLS: true, CertNames: []string{"mail.example.test"}, User: "alice", Pass: "pw"})
	err := send(t, Config{
		URL:       "smtp://alice:pw@mail.example.test:587",
		TLSConfig: srv.ClientTLSConfig(),
		dialAddr:  srv.Addr,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.WaitFor(t, 1, 5*time.Second)[0]; !got.TLS {
		t.Error("mail did not come over TLS")
	}
}

func TestSendLoopbackUsesSTARTTLSWhenOffered(t *testing.T) {
	srv := mailtest.StartWith(t, mailtest.Options{TLS: true})
	if err := send(t, Config{URL: srv.URL(), TLSConfig: srv.ClientTLSConfig()}); err != nil {
		t.Fatal(err)
	}
	if got := srv.WaitFor(t, 1, 5*time.Second)[0]; !got.TLS {
		t.Error("STARTTLS offered but not used")
	}
}

// An offered STARTTLS with a bad certificate is an error, not a reason to
// fall back to plain text.
func TestSendUntrustedCertificateFails(t *testing.T) {
	srv := mailtest.StartWith(t, mailtest.Options{TLS: true})
	if err := send(t, Config{URL: srv.URL()}); err == nil {
		t.Fatal("sent despite an untrusted certificate")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server got %d mails", n)
	}
}

func TestSendImplicitTLS(t *testing.T) {
	srv := mailtest.StartWith(t, mailtest.Options{ImplicitTLS: true, User: "alice", Pass: "pw"})
	if !strings.HasPrefix(srv.URL(), "smtps://") {
		t.Fatalf("URL() = %q", srv.URL())
	}
	err := send(t, Config{URL: withUser(srv.URL(), "alice", "pw"), TLSConfig: srv.ClientTLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.WaitFor(t, 1, 5*time.Second)[0]; !got.TLS {
		t.Error("mail did not come over TLS")
	}
}

// silentServer accepts connections and never answers, like a stuck relay.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return l.Addr().String()
}

func TestSendTimeout(t *testing.T) {
	addr := silentServer(t)
	start := time.Now()
	err := send(t, Config{URL: "smtp://" + addr, Timeout: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("no error from a silent server")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v with a 300ms timeout", d)
	}
}

func TestSendHonoursContext(t *testing.T) {
	addr := silentServer(t)
	s, err := New(Config{URL: "smtp://" + addr, From: "gatehouse@auth.example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Send(ctx, testMessage())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v with a 200ms context", d)
	}
}

func TestSendRejectsBadMessage(t *testing.T) {
	srv := mailtest.Start(t)
	s, err := New(Config{URL: srv.URL(), From: "gatehouse@auth.example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*Message)
	}{
		{"bad recipient", func(m *Message) { m.To = "not an address" }},
		{"no html", func(m *Message) { m.HTML = "" }},
		{"no text", func(m *Message) { m.Text = " " }},
		{"link missing from text", func(m *Message) { m.Text = "hello" }},
		{"link missing from html", func(m *Message) { m.HTML = "<p>hello</p>" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			tt.edit(&m)
			if err := s.Send(context.Background(), m); err == nil {
				t.Error("sent")
			}
		})
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server got %d mails", n)
	}
}

func TestSubjectStaysOneHeader(t *testing.T) {
	srv := mailtest.Start(t)
	s, err := New(Config{URL: srv.URL(), From: "gatehouse@auth.example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage()
	m.Subject = "Hello\r\nBcc: mallory@example.com"
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, 1, 5*time.Second)[0]
	if strings.Contains(string(got.Raw), "\r\nBcc:") || len(got.To) != 1 {
		t.Errorf("subject injected a header:\n%s", got.Raw)
	}
}

func TestTLSPolicyFor(t *testing.T) {
	tests := []struct {
		host string
		want gomail.TLSPolicy
	}{
		{"127.0.0.1", gomail.TLSOpportunistic},
		{"127.1.2.3", gomail.TLSOpportunistic},
		{"::1", gomail.TLSOpportunistic},
		{"[::1]", gomail.TLSOpportunistic},
		{"localhost", gomail.TLSOpportunistic},
		{"LOCALHOST.", gomail.TLSOpportunistic},
		{"::ffff:127.0.0.1", gomail.TLSOpportunistic},
		{"smtp.example.com", gomail.TLSMandatory},
		{"localhost.example.com", gomail.TLSMandatory},
		{"mylocalhost", gomail.TLSMandatory},
		{"128.0.0.1", gomail.TLSMandatory},
		{"10.0.0.1", gomail.TLSMandatory},
		{"192.168.1.10", gomail.TLSMandatory},
		{"::2", gomail.TLSMandatory},
		{"0.0.0.0", gomail.TLSMandatory},
		{"", gomail.TLSMandatory},
	}
	for _, tt := range tests {
		if got := tlsPolicyFor(tt.host); got != tt.want {
			t.Errorf("tlsPolicyFor(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}
