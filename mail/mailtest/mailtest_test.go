package mailtest

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// rawMail is nested multipart with a base64 text part and a quoted-printable
// HTML part, to check both decoders and the descent into multiparts.
const rawMail = "From: a@example.com\r\n" +
	"To: b@example.com\r\n" +
	"Subject: =?UTF-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=outer\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=inner\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"T3BlbiBodHRwczovL3guZXhhbXBsZS90P2E9MSZi\r\nPTIK\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"<a href=3D\"https://x.example/t?a=3D1&amp;b=3D2\">Open</a>=\r\n" +
	" now\r\n" +
	"--inner--\r\n" +
	"--outer--\r\n"

// sendRaw delivers rawMail in plain text, with AUTH PLAIN when user is set.
func sendRaw(addr, user, pass string, to ...string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if user != "" {
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			return err
		}
	}
	if err := c.SendMail("a@example.com", to, strings.NewReader(rawMail)); err != nil {
		return err
	}
	return c.Quit()
}

func TestParse(t *testing.T) {
	subject, text, html, err := parse([]byte(rawMail))
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Grüße" {
		t.Errorf("subject = %q", subject)
	}
	if text != "Open https://x.example/t?a=1&b=2\n" {
		t.Errorf("text = %q", text)
	}
	if html != `<a href="https://x.example/t?a=1&amp;b=2">Open</a> now` {
		t.Errorf("html = %q", html)
	}
}

func TestServerRecordsMail(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.URL(), "smtp://127.0.0.1:") {
		t.Errorf("URL() = %q", s.URL())
	}
	if err := sendRaw(s.Addr, "", "", "b@example.com", "c@example.com"); err != nil {
		t.Fatal(err)
	}
	got := s.WaitFor(t, 1, 5*time.Second)[0]
	if got.From != "a@example.com" || strings.Join(got.To, ",") != "b@example.com,c@example.com" {
		t.Errorf("envelope = %q %q", got.From, got.To)
	}
	if got.Err != nil || got.Subject != "Grüße" || !strings.Contains(got.Text, "https://x.example/t?a=1&b=2") {
		t.Errorf("parsed = %+v", got)
	}
	if got.TLS {
		t.Error("TLS = true on a plain server")
	}
}

func TestServerRequiresAuth(t *testing.T) {
	s := StartWith(t, Options{User: "alice", Pass: "pw"})
	if err := sendRaw(s.Addr, "", "", "b@example.com"); err == nil {
		t.Error("mail without AUTH accepted")
	}
	if err := sendRaw(s.Addr, "alice", "wrong", "b@example.com"); err == nil {
		t.Error("wrong password accepted")
	}
	if err := sendRaw(s.Addr, "alice", "pw", "b@example.com"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if n := len(s.WaitFor(t, 1, 5*time.Second)); n != 1 {
		t.Errorf("got %d mails, want 1", n)
	}
}

func TestServerSTARTTLS(t *testing.T) {
	s := StartWith(t, Options{TLS: true})
	c, err := smtp.DialStartTLS(s.Addr, s.ClientTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader(rawMail)); err != nil {
		t.Fatal(err)
	}
	if got := s.WaitFor(t, 1, 5*time.Second)[0]; !got.TLS {
		t.Error("TLS = false after STARTTLS")
	}
}

func TestClientTLSConfigNilWithoutTLS(t *testing.T) {
	if Start(t).ClientTLSConfig() != nil {
		t.Error("ClientTLSConfig() != nil on a plain server")
	}
	if StartWith(t, Options{TLS: true}).ClientTLSConfig() == nil {
		t.Error("ClientTLSConfig() == nil on a TLS server")
	}
}
