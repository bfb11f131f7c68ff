package main

import (
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/apptest"
	"gatehouse/mail/mailtest"
)

// A bad -smtp-url or -mail-from stops the start with one line that names
// the flag and never shows the SMTP password.
func TestMailFlagsStopWithOneLine(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-smtp-url", "ftp://user:hunter2pw@mail.example.com"}, nil, "-smtp-url"},
		{[]string{"-smtp-url", "smtp://user:hunter2pw@mail.example.com:99999"}, nil, "-smtp-url"},
		{[]string{"-smtp-url", "smtp://user:hunter2/pw@mail.example.com:587"}, nil, "-smtp-url"},
		{nil, map[string]string{"GATEHOUSE_SMTP_URL": "smtps://user:hunter2pw@"}, "GATEHOUSE_SMTP_URL"},
		{[]string{"-mail-from", "not an address"}, nil, "-mail-from"},
		{nil, map[string]string{"GATEHOUSE_MAIL_FROM": "a@b@c"}, "GATEHOUSE_MAIL_FROM"},
	}
	for _, tc := range cases {
		args := append([]string{"serve", "-addr", "127.0.0.1:0", "-db", t.TempDir() + "/auth.db"}, tc.args...)
		err := run(context.Background(), args, env(tc.env), nil, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("%v %v: no error", tc.args, tc.env)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") || strings.Contains(msg, "hunter2") {
			t.Errorf("%v %v: error %q should be one line naming %q, without the password", tc.args, tc.env, msg, tc.want)
		}
	}
}

// serveMail runs serve on a fresh database with extra args and returns
// its URL, its log and a stop function that returns once serve has
// returned.
func serveMail(t *testing.T, args ...string) (string, *apptest.LogBuffer, func()) {
	t.Helper()
	return startWith(t, append([]string{"serve", "-addr", "127.0.0.1:0", "-db", t.TempDir() + "/auth.db"}, args...))
}

// Without -smtp-url the server warns once, at start, that mail goes to the
// log; the mail of a sign-up then shows there with its link.
func TestNoSMTPWarnsOnceAndLogsMail(t *testing.T) {
	base, logs, stop := serveMail(t)
	signup(t, base, "alice")
	signup(t, base, "bobby")
	stop()
	out := logs.String()
	if n := strings.Count(out, "no SMTP server set"); n != 1 {
		t.Fatalf("warning shown %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "to=alice@example.com") || !strings.Contains(out, "/verify?token=") {
		t.Fatalf("the sign-up mail is not in the log:\n%s", out)
	}
}

// With -smtp-url, mail goes over SMTP from -mail-from with links under
// -base-url; a stop right after a sign-up still delivers its mail before
// serve returns (App.Wait), and no token or password reaches the log.
func TestSMTPMailSurvivesStop(t *testing.T) {
	m := mailtest.StartWith(t, mailtest.Options{User: "gh", Pass: "relay-secret-9"})
	// A relay that waits before it lets the conversation start, so the
	// mail is still in flight when the stop signal comes.
	smtpURL := "smtp://gh:relay-secret-9@" + slowRelay(t, m.Addr, 500*time.Millisecond)
	base, logs, stop := serveMail(t, "-smtp-url", smtpURL, "-base-url", "https://auth.example.com")
	// The base URL is https, so cookies are Secure and a plain-HTTP jar
	// would drop them: one sign-up is enough here.
	signup(t, base, "alice")
	stop()
	msgs := m.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d mails delivered by the time serve returned, want 1", len(msgs))
	}
	got := msgs[0]
	if got.From != "gatehouse@auth.example.com" || got.To[0] != "alice@example.com" {
		t.Errorf("envelope %q -> %v, want the default sender gatehouse@auth.example.com", got.From, got.To)
	}
	i := strings.Index(got.Text, "https://auth.example.com/verify?token=")
	if i < 0 {
		t.Fatalf("no link under the base URL in:\n%s", got.Text)
	}
	token := strings.Fields(got.Text[i:])[0]
	token = token[strings.Index(token, "=")+1:]
	out := logs.String()
	if strings.Contains(out, token) || strings.Contains(out, "relay-secret-9") || strings.Contains(out, url.QueryEscape("relay-secret-9")) {
		t.Fatalf("the log shows a token or the SMTP password:\n%s", out)
	}
	if strings.Contains(out, "no SMTP server set") || !strings.Contains(out, "mail via SMTP") {
		t.Fatalf("start log should name the SMTP server, not warn:\n%s", out)
	}
}

// slowRelay forwards loopback connections to target after delay.
func slowRelay(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				time.Sleep(delay)
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in) }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	return ln.Addr().String()
}
