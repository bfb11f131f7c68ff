package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestNewWithoutURLIsLogSender(t *testing.T) {
	s, err := New(Config{}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*LogSender); !ok {
		t.Errorf("New(Config{}) = %T, want *LogSender", s)
	}
}

func TestLogSenderLogsToSubjectLink(t *testing.T) {
	var buf bytes.Buffer
	s, err := New(Config{}, slog.New(slog.NewJSONHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage()
	m.Text = "Secret greeting for alice: " + testLink
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	want := map[string]string{"level": "INFO", "to": m.To, "subject": m.Subject, "link": testLink}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("log %s = %v, want %q", k, rec[k], v)
		}
	}
	if strings.Contains(buf.String(), "Secret greeting") || strings.Contains(buf.String(), "<p>") {
		t.Errorf("log shows a body: %s", buf.String())
	}
}

// Without Link the first URL of the text body is logged, so a caller that
// forgets the field still gets a usable log.
func TestLogSenderFindsLinkInText(t *testing.T) {
	var buf bytes.Buffer
	s := &LogSender{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	m := testMessage()
	m.Link = ""
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["link"] != testLink {
		t.Errorf("link = %v, want %q", rec["link"], testLink)
	}
}

func TestLogSenderRejectsBadMessage(t *testing.T) {
	var buf bytes.Buffer
	s := &LogSender{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	m := testMessage()
	m.HTML = ""
	if err := s.Send(context.Background(), m); err == nil {
		t.Error("accepted a mail without an HTML part")
	}
	if buf.Len() != 0 {
		t.Errorf("logged a rejected mail: %s", buf.String())
	}
}
