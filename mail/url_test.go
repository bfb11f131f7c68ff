package mail

import (
	"strings"
	"testing"
)

func TestParseURLAccepts(t *testing.T) {
	tests := []struct {
		raw, want string
	}{
		{"smtp://mail.example.com", "smtp://mail.example.com:587"},
		{"smtps://mail.example.com", "smtps://mail.example.com:465"},
		{"smtp://user:hunter2@mail.example.com:587", "smtp://user:hunter2@mail.example.com:587"},
		{"smtps://user:hunter2@mail.example.com:465/", "smtps://user:hunter2@mail.example.com:465"},
		{"SMTP://mail.example.com:2525", "smtp://mail.example.com:2525"},
		{"smtp://127.0.0.1:25", "smtp://127.0.0.1:25"},
		{"smtp://[::1]", "smtp://[::1]:587"},
		{"smtp://user%40example.com:p%2Fss%3Fw%23rd@mail.example.com", "smtp://user%40example.com:p%2Fss%3Fw%23rd@mail.example.com:587"},
	}
	for _, tt := range tests {
		u, err := ParseURL(tt.raw)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.raw, err)
			continue
		}
		if got := u.String(); got != tt.want {
			t.Errorf("ParseURL(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

// Every rejected value carries the password "hunter2" somewhere, often in a
// spot where a careless message would echo it (host, port, path).
func TestParseURLRejects(t *testing.T) {
	tests := []struct {
		raw, wantContains string
	}{
		{"", "empty"},
		{"http://user:hunter2@mail.example.com", "scheme"},
		{"user:hunter2@mail.example.com", "scheme"},
		{"mail.example.com:hunter2", "scheme"},
		{"smtp:user:hunter2@mail.example.com", "//"},
		{"smtp://user:hunter2@", "host"},
		{"smtp://user:hunter2@:587", "host"},
		{"smtp://user:hunter2@mail.example.com:0", "port"},
		{"smtp://user:hunter2@mail.example.com:70000", "port"},
		{"smtp://user:hunter2@mail.example.com:smtp", "not a valid URL"},
		{"smtp://user:hunter2/x@mail.example.com", "percent-encode"},
		{"smtp://u:hunter2#x@mail.example.com", "percent-encode"},
		{"smtp://u:hunter2?x@mail.example.com", "percent-encode"},
		{"smtp://user:hunter2@mail.example.com/path", "path"},
		{"smtp://user:hunter2@mail.example.com?tls=no", "query"},
		{"smtp://:hunter2@mail.example.com", "user name"},
		{"smtp://hunter2@mail.example.com", "password"},
		{"smtp://user:hun ter2@mail.example.com", "not a valid URL"},
		{"smtp://user:hunter2@mail example.com", "not a valid URL"},
	}
	for _, tt := range tests {
		_, err := ParseURL(tt.raw)
		if err == nil {
			t.Errorf("ParseURL(%q) accepted", tt.raw)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "hunter2") || strings.Contains(msg, "hun ter2") {
			t.Errorf("ParseURL(%q) error shows the password: %s", tt.raw, msg)
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("ParseURL(%q) error is not one line: %q", tt.raw, msg)
		}
		if !strings.Contains(msg, tt.wantContains) {
			t.Errorf("ParseURL(%q) = %q, want it to mention %q", tt.raw, msg, tt.wantContains)
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad url", Config{URL: "smtp://user:hunter2@mail.example.com:99999", From: "a@example.com"}, "port"},
		{"bad from", Config{URL: "smtp://user:hunter2@mail.example.com", From: "not an address"}, "-mail-from"},
		{"empty from", Config{URL: "smtp://user:hunter2@mail.example.com"}, "-mail-from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q and not the password", err, tt.want)
			}
		})
	}
}
