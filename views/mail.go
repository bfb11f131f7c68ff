package views

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

//go:embed mail/*.tmpl
var mailFiles embed.FS

// Mail names: each has NAME.subject and NAME.text in mail/text.tmpl and
// NAME.html in mail/html.tmpl.
const (
	MailVerify            = "verify"
	MailReset             = "reset"
	MailEmailChange       = "email_change"
	MailEmailChangeNotice = "email_change_notice"
	MailNewDevice         = "new_device" // a sign-in from a browser not seen lately (§13)
)

var mailNames = []string{MailVerify, MailReset, MailEmailChange, MailEmailChangeNotice, MailNewDevice}

// MailData is everything a mail template can show.
type MailData struct {
	Username string
	Email    string // the address the mail goes to
	NewEmail string // an email change's new address
	Link     string // the one action link; the same in both parts
	SiteURL  string // the base URL, for "you have an account at …"
	Valid    string // how long the link works, "24 hours"
	// A new-device mail: when (UTC), which browser, from where, and the
	// page to reset the password besides Link (the activity page).
	When       string
	Browser    string
	Address    string
	ForgotLink string
}

// Mails holds the parsed mail templates: text/template for the subject and
// the plain-text part, html/template (escaping) for the HTML part.
type Mails struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// NewMails parses the mail templates and checks that every mail has its
// three parts, so a missing one stops the start rather than a send.
func NewMails() (*Mails, error) {
	text, err := texttemplate.ParseFS(mailFiles, "mail/text.tmpl")
	if err != nil {
		return nil, fmt.Errorf("views: mail text: %w", err)
	}
	html, err := htmltemplate.ParseFS(mailFiles, "mail/html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("views: mail html: %w", err)
	}
	for _, n := range mailNames {
		if text.Lookup(n+".subject") == nil || text.Lookup(n+".text") == nil || html.Lookup(n+".html") == nil {
			return nil, fmt.Errorf("views: mail %s lacks a subject, text or html template", n)
		}
	}
	return &Mails{text: text, html: html}, nil
}

// Render returns the subject and both bodies of mail name.
func (m *Mails) Render(name string, d MailData) (subject, text, html string, err error) {
	var s, t, h bytes.Buffer
	if err := m.text.ExecuteTemplate(&s, name+".subject", d); err != nil {
		return "", "", "", fmt.Errorf("views: mail %s: %w", name, err)
	}
	if err := m.text.ExecuteTemplate(&t, name+".text", d); err != nil {
		return "", "", "", fmt.Errorf("views: mail %s: %w", name, err)
	}
	if err := m.html.ExecuteTemplate(&h, name+".html", d); err != nil {
		return "", "", "", fmt.Errorf("views: mail %s: %w", name, err)
	}
	return strings.TrimSpace(s.String()), strings.TrimLeft(t.String(), "\n"), h.String(), nil
}
