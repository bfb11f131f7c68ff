package views_test

import (
	"strings"
	"testing"
	"time"

	"gatehouse/views"
)

func newViews(t *testing.T) *views.Views {
	t.Helper()
	v, err := views.New(func(name string) string { return "/static/" + name })
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAccountPagesRenderZeroData renders every block of the account and
// sessions pages with an empty data struct: a template that dereferences
// something absent fails here, not in front of a user.
func TestAccountPagesRenderZeroData(t *testing.T) {
	v := newViews(t)
	for _, tc := range []struct{ page, block string }{
		{views.PageAccount, "base"},
		{views.PageAccount, "password-form"},
		{views.PageAccount, "email-form"},
		{views.PageAccount, "delete-form"},
		{views.PageSessions, "base"},
	} {
		var b strings.Builder
		if err := v.Render(&b, tc.page, tc.block, views.Data{}); err != nil {
			t.Errorf("%s/%s: %v", tc.page, tc.block, err)
		}
	}
}

// TestAccountFormsHaveDistinctIDs checks that the three current_password
// fields get their own ids, and that only the submitted form shows errors
// and takes focus.
func TestAccountFormsHaveDistinctIDs(t *testing.T) {
	v := newViews(t)
	d := views.Data{
		Account: &views.Account{Username: "alice", Email: "alice@example.com"},
		Form: views.Form{
			ID:     "delete",
			Errors: map[string]string{"current_password": "Your current password is not correct."},
			Order:  []string{"current_password"},
			First:  "current_password",
		},
	}
	var b strings.Builder
	if err := v.Render(&b, views.PageAccount, "base", d); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, id := range []string{"password-current_password", "email-current_password", "delete-current_password", "email-email", "password-new_password"} {
		if n := strings.Count(page, `id="`+id+`"`); n != 1 {
			t.Errorf("id %q appears %d times, want 1", id, n)
		}
	}
	if n := strings.Count(page, "aria-invalid"); n != 1 {
		t.Errorf("aria-invalid appears %d times, want 1 (only the delete form is in error)", n)
	}
	for _, want := range []string{
		`href="#delete-current_password"`,
		`for="delete-current_password"`,
		`aria-describedby="delete-current_password-error"`,
		`<p class="field-error" id="delete-current_password-error" data-for="delete-current_password" aria-live="polite">Your current password is not correct.</p>`,
		`name="current_password"`,
		"Not verified",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Count(page, " autofocus") != 1 || !strings.Contains(page, `id="delete-current_password" name="current_password" type="password" autocomplete="current-password" required autofocus`) {
		t.Errorf("want exactly one autofocus, on delete-current_password:\n%s", page)
	}
}

func TestSessionsPageMarksThisDevice(t *testing.T) {
	v := newViews(t)
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	d := views.Data{
		Account: &views.Account{Username: "alice"},
		Sessions: []views.SessionRow{
			{ID: 7, StartedAt: now, LastSeen: now, IP: "192.0.2.1", Browser: "Firefox on Linux", Current: true},
			{ID: 9, StartedAt: now, LastSeen: now, IP: "192.0.2.2", Browser: "Safari on iOS"},
		},
	}
	var b strings.Builder
	if err := v.Render(&b, views.PageSessions, "base", d); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"Firefox on Linux", "Safari on iOS", "This device", "192.0.2.2", `value="9"`, `value="others"`, "Sign out everywhere else"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(page, "This device"); n != 1 {
		t.Errorf(`"This device" appears %d times, want 1`, n)
	}
}
