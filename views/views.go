// Package views renders Gatehouse's pages from embedded templates. Each page
// gets its own template set (base layout + partials + the page), parsed once
// at start, and renders into a buffer so a template error never sends half a
// page.
package views

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

//go:embed layouts partials pages
var files embed.FS

// Page names. Every file in pages/ must be listed here and every name here
// must have a file: New fails otherwise.
const (
	PageHome      = "home"
	PageSignup    = "signup"
	PageSignin    = "signin"
	PageDashboard = "dashboard"
	PageError     = "error"
	PageAccount   = "account"
	PageSessions  = "sessions"
	PageForgot    = "forgot"
	PageReset     = "reset"
	PageLink      = "link"     // a link from a mail that cannot be used
	PageConsent   = "consent"  // an app asks to sign in (OpenID Connect)
	PageContinue  = "continue" // on the way back to an app
	PageApps      = "apps"     // the apps an account has allowed
	// Second factors (product.md §10).
	PageSecurity      = "security"
	PageTOTPSetup     = "totp-setup"
	PageRecoveryCodes = "recovery-codes"
	PageTwoStep       = "signin-2fa"
)

var pages = []string{PageHome, PageSignup, PageSignin, PageDashboard, PageError, PageAccount, PageSessions,
	PageForgot, PageReset, PageLink, PageSecurity, PageTOTPSetup, PageRecoveryCodes, PageTwoStep,
	PageConsent, PageContinue, PageApps}

// Register adds page names defined outside this file (by other features)
// before New is called.
func Register(names ...string) { pages = append(pages, names...) }

// Data is everything a template can show. One struct for every page, so a
// misspelt field is a compile or render error instead of an empty string.
type Data struct {
	Title   string
	Account *Account // the signed-in user; nil when signed out
	Notice  string   // a one-time notice carried over a redirect
	Private bool     // shows account data: kept out of htmx's history cache
	Wide    bool     // a page of tables (activity, admin): a wider column
	// Passkeys is false when the server cannot offer passkeys (its base
	// URL's host is an IP address): no passkey control is shown.
	Passkeys bool
	Form     Form
	Field    Field // the field of an inline-validation fragment
	Next     string
	// Rd is the app to go back to after signing in (product.md §11),
	// already checked: carried in a hidden field of the sign-in form.
	Rd      string
	Session SessionInfo
	Error   ErrorInfo
	// Sessions lists the user's signed-in sessions (the sessions page).
	Sessions []SessionRow
	// Link is the state of the pages reached from, or sending, mail links.
	Link LinkInfo
	// App is the app of the consent and continue pages (OpenID Connect).
	App AppInfo
	// Apps lists the apps the account has allowed (the apps page).
	Apps []AppRow
	// Activity and Admin fill the pages of product.md §13 (security.go).
	Activity ActivityInfo
	Admin    AdminInfo
	// Security fills the second-factor pages.
	Security SecurityInfo
	// TwoStep fills the second step of a sign-in.
	TwoStep TwoStepInfo
}

// SecurityInfo is an account's second factors as the security pages show
// them.
type SecurityInfo struct {
	TOTPOn        bool
	RecoveryCodes int // unused codes left
	Passkeys      []PasskeyRow
	// Setup is a new authenticator secret (the setup page).
	Setup TOTPSetup
	// Codes are new recovery codes, shown once.
	Codes []string
}

// HasFactor reports whether the account has a second factor.
func (s SecurityInfo) HasFactor() bool { return s.TOTPOn || len(s.Passkeys) > 0 }

// CodesText is the codes in one line, for the download form.
func (s SecurityInfo) CodesText() string { return strings.Join(s.Codes, " ") }

// TOTPSetup is a new authenticator secret: as text, as its otpauth:// URI,
// and as a QR code (a PNG data: URL made on the server).
type TOTPSetup struct {
	Secret string
	URI    string
	QR     template.URL
}

// PasskeyRow is one passkey in the list.
type PasskeyRow struct {
	ID       int64
	Name     string
	Added    time.Time
	LastUsed time.Time // zero: never
}

// TwoStepInfo fills the second step of a sign-in.
type TwoStepInfo struct {
	Passkey bool // the account has a passkey: offer it (with JavaScript)
}

// LinkInfo fills the forgot, reset and bad-link pages.
type LinkInfo struct {
	Token string // the reset token, carried in a hidden field
	Sent  bool   // the forgot form was accepted: show the one same answer
	Kind  string // of a bad link: "verify" or "reset", to offer a new one
}

// FormOf returns the page's form with that id: the submitted one (with its
// values and errors) when Form.ID names it, else an empty one. Pages with
// several forms, such as the account page, use it for each.
func (d Data) FormOf(id string) Form {
	if d.Form.ID == id {
		return d.Form
	}
	return Form{ID: id}
}

// SessionRow is one signed-in session as the sessions page lists it.
type SessionRow struct {
	ID        int64
	StartedAt time.Time
	LastSeen  time.Time
	IP        string
	Browser   string // "Firefox on Linux"
	Current   bool   // the session of this request
}

// Account is the signed-in user as pages show them.
type Account struct {
	ID            int64
	Username      string
	Email         string
	EmailVerified bool
	CreatedAt     time.Time
	Admin         bool // may open the admin pages (product.md §13)
}

// SessionInfo tells the user when their session ends.
type SessionInfo struct {
	ExpiresAt time.Time
	Idle      time.Duration
}

// ErrorInfo fills the error page.
type ErrorInfo struct {
	Status  int
	Heading string
	Message string
}

// Form carries a submitted form back to its page: the values (never
// passwords), the error of each field, a message for the whole form, and
// which field is first in error (it gets focus).
type Form struct {
	// ID tells forms on one page apart: it names the submitted form and
	// prefixes its field ids ("password" gives "password-current_password"),
	// so two forms may both have a current_password field. Empty on pages
	// with one form: ids are the field names.
	ID      string
	Values  map[string]string
	Errors  map[string]string
	Message string
	First   string   // name of the first field in error
	Order   []string // fields in error, in page order, for the summary
}

// HasErrors reports whether the form shows any error.
func (f Form) HasErrors() bool { return f.Message != "" || len(f.Errors) > 0 }

// Field is one labelled input with its error slot.
type Field struct {
	ID           string // the input's id; the name when empty
	Name         string
	Label        string
	Type         string
	Autocomplete string
	Value        string
	Error        string
	Hint         string
	Check        string // URL that validates this field inline (htmx)
	Autofocus    bool
	Required     bool
}

// InputID is the id of the input: ID, or the name.
func (f Field) InputID() string {
	if f.ID != "" {
		return f.ID
	}
	return f.Name
}

// FieldID is the id a field of this form gets (for the error summary's
// links).
func (f Form) FieldID(name string) string {
	if f.ID != "" {
		return f.ID + "-" + name
	}
	return name
}

// WithHint returns the field with a hint shown under its label.
func (f Field) WithHint(h string) Field { f.Hint = h; return f }

// WithCheck returns the field with inline validation against url.
func (f Field) WithCheck(url string) Field { f.Check = url; return f }

// Optional returns the field without the required attribute.
func (f Field) Optional() Field { f.Required = false; return f }

// newField builds a field from the form's state.
func newField(form Form, name, label, typ, autocomplete string) Field {
	f := Field{ID: form.FieldID(name), Name: name, Label: label, Type: typ, Autocomplete: autocomplete, Required: true}
	if typ != "password" {
		f.Value = form.Values[name]
	}
	f.Error = form.Errors[name]
	f.Autofocus = form.First == name
	return f
}

// Views holds one template set per page, each parsed at the page's first
// use.
//
// A set is the layout, every partial and the page, and html/template
// needs a copy per page (it escapes the layout in each page's context), so
// parsing every set at start took 2.3 MiB of an idle server's 7 MiB of
// private memory, while most servers show a few pages and never the admin
// or OpenID Connect ones (docs/PERFORMANCE.md, idle memory). Parsing one set takes
// about a millisecond, once. The files are embedded, and
// TestEveryPageAndFragmentRenders parses every one, so a set cannot fail
// to parse in a built binary that passed its tests.
type Views struct {
	sets map[string]func() (*template.Template, error)
}

// New checks that every page file is registered and prepares one set per
// page. assetURL maps a static file name to its URL (with a content hash,
// so it can be cached for ever).
func New(assetURL func(string) string) (*Views, error) {
	funcs := template.FuncMap{
		"field":     newField,
		"withCheck": func(url string, f Field) Field { return f.WithCheck(url) },
		"labels":    func(s ...string) []string { return s },
		"asset":     assetURL,
		"date": func(t time.Time) string {
			return t.UTC().Format("2 January 2006 at 15:04 UTC")
		},
		"action":   actionButton,
		"day":      func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
		"rfc3339":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"duration": humanDuration,
	}
	onDisk, err := fs.Glob(files, "pages/*.html")
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, p := range pages {
		known[p] = true
	}
	found := map[string]bool{}
	for _, f := range onDisk {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if !known[name] {
			return nil, fmt.Errorf("views: page file %s is not registered", f)
		}
		found[name] = true
	}
	v := &Views{sets: map[string]func() (*template.Template, error){}}
	for _, name := range pages {
		if !found[name] {
			return nil, fmt.Errorf("views: page %s has no file pages/%s.html", name, name)
		}
		v.sets[name] = sync.OnceValues(func() (*template.Template, error) {
			t, err := template.New(name).Funcs(funcs).ParseFS(files,
				"layouts/base.html", "partials/*.html", "pages/"+name+".html")
			if err != nil {
				return nil, fmt.Errorf("views: page %s: %w", name, err)
			}
			return t, nil
		})
	}
	return v, nil
}

// Pages lists the registered page names, sorted.
func (v *Views) Pages() []string {
	out := make([]string, 0, len(v.sets))
	for n := range v.sets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// HTML executes block ("base" for the whole page, or a fragment the page
// defines) of page into a buffer and returns it, so a template error never
// becomes half a page.
func (v *Views) HTML(page, block string, data Data) ([]byte, error) {
	set, ok := v.sets[page]
	if !ok {
		return nil, fmt.Errorf("views: unknown page %q", page)
	}
	t, err := set()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, data); err != nil {
		return nil, fmt.Errorf("views: render %s/%s: %w", page, block, err)
	}
	return buf.Bytes(), nil
}

// Render is HTML written to w. Nothing is written when it fails.
func (v *Views) Render(w io.Writer, page, block string, data Data) error {
	b, err := v.HTML(page, block, data)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// humanDuration says 720h as "30 days" and 90m as "90 minutes".
func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= 2*time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d >= 2*time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	default:
		return d.String()
	}
}
