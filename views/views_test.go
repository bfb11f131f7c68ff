package views

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func testViews(t *testing.T) *Views {
	t.Helper()
	v, err := New(func(name string) string { return "/static/" + name })
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Every page and every form fragment renders with a zero-value Data, and a
// signed-in one, without error.
func TestEveryPageAndFragmentRenders(t *testing.T) {
	v := testViews(t)
	datas := map[string]Data{
		"zero":      {},
		"signed in": {Account: &Account{Username: "alice", Email: "alice@example.com"}, Private: true, Notice: "Saved."},
	}
	for _, page := range v.Pages() {
		blocks := []string{"base"}
		set, err := v.sets[page]()
		if err != nil {
			t.Errorf("%s: %v", page, err)
			continue
		}
		for _, tmpl := range set.Templates() {
			if strings.HasSuffix(tmpl.Name(), "-form") {
				blocks = append(blocks, tmpl.Name())
			}
		}
		for _, block := range blocks {
			for dname, d := range datas {
				if page == PageDashboard && d.Account == nil {
					continue // the dashboard is only rendered signed in
				}
				var buf bytes.Buffer
				if err := v.Render(&buf, page, block, d); err != nil {
					t.Errorf("%s/%s (%s): %v", page, block, dname, err)
					continue
				}
				if buf.Len() == 0 {
					t.Errorf("%s/%s (%s): empty", page, block, dname)
				}
				if block == "base" && !strings.HasPrefix(buf.String(), "<!DOCTYPE html>") {
					t.Errorf("%s: full page does not start with the doctype", page)
				}
			}
		}
	}
}

// A failed render writes nothing.
func TestRenderErrorWritesNothing(t *testing.T) {
	v := testViews(t)
	var buf bytes.Buffer
	if err := v.Render(&buf, PageDashboard, "base", Data{}); err == nil {
		t.Fatal("dashboard without an account rendered")
	}
	if buf.Len() != 0 {
		t.Fatalf("a failed render wrote %d bytes", buf.Len())
	}
	if err := v.Render(&buf, "nope", "base", Data{}); err == nil {
		t.Fatal("unknown page rendered")
	}
}

// The first field in error gets autofocus, so focus moves there after a
// failed submit with JavaScript on (htmx honours autofocus) and off.
func TestFirstErrorGetsFocus(t *testing.T) {
	v := testViews(t)
	var buf bytes.Buffer
	d := Data{Form: Form{Errors: map[string]string{"email": "Bad.", "password": "Short."}, Order: []string{"email", "password"}, First: "email"}}
	if err := v.Render(&buf, PageSignup, "signup-form", d); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	if strings.Count(html, " autofocus") != 1 || !strings.Contains(html, `id="email" name="email" type="email" autocomplete="email" required autofocus aria-invalid="true"`) {
		t.Fatalf("autofocus not on the first field in error:\n%s", html)
	}
	// A form-level error (wrong password) focuses the summary instead.
	buf.Reset()
	d = Data{Form: Form{Message: "Incorrect username or password."}}
	if err := v.Render(&buf, PageSignin, "signin-form", d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `id="error-summary" role="alert" tabindex="-1" autofocus`) {
		t.Fatalf("summary not focused:\n%s", buf.String())
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[string]string{"720h": "30 days", "168h": "7 days", "3h": "3 hours", "90m": "90 minutes"} {
		dur, _ := parseDuration(d)
		if got := humanDuration(dur); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func parseDuration(s string) (d time.Duration, err error) { return time.ParseDuration(s) }

// The inline-check answer is the field's error slot and nothing else.
func TestInlineErrorFragment(t *testing.T) {
	v := testViews(t)
	var buf bytes.Buffer
	if err := v.Render(&buf, PageSignup, "inline-error", Data{Field: Field{Name: "email", Error: "Bad."}}); err != nil {
		t.Fatal(err)
	}
	want := `<p class="field-error" id="email-error" data-for="email" aria-live="polite">Bad.</p>`
	if strings.TrimSpace(buf.String()) != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
}
