package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"gatehouse/internal/apptest"
)

// adminApp runs Gatehouse with an admin "root" and a few other accounts.
func adminApp(t *testing.T) *App {
	t.Helper()
	app := startApp(t, apptest.Options{})
	newAccount(t, app, "root", "root@example.com")
	for _, name := range []string{"alice", "albert", "bob", "carol"} {
		newAccount(t, app, name, name+"@example.com")
	}
	u, err := app.Store.UserByUsername(context.Background(), "root")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Store.SetAdmin(context.Background(), u.ID, true); err != nil {
		t.Fatal(err)
	}
	return app
}

// listed returns the usernames the admin list shows.
func listed(tb *Tab) string {
	return eval[string](tb, `Array.from(document.querySelectorAll("#admin-users tbody td:first-child")).map(td => td.textContent.trim()).join(",")`)
}

// TestAdminSearchAndDisable: an admin searches the accounts (as they type
// with JavaScript, with the button without), opens one, disables it with
// its POST form, and the account can no longer sign in.
func TestAdminSearchAndDisable(t *testing.T) {
	bothModes(t, func(t *testing.T, js bool) {
		app := adminApp(t)
		tb := newTab(t, app.URL, js)
		tb.open("/signin?next=%2Fadmin")
		tb.fill("#username", "root")
		tb.fill("#password", testPassword)
		tb.submit("#signin-form", "the admin list", `location.pathname === "/admin" && document.querySelector("#admin-users")`)
		if got := listed(tb); got != "albert,alice,bob,carol,root" {
			t.Fatalf("list = %q", got)
		}

		if js {
			// Typing searches; no button pressed, no page load.
			tb.mark()
			tb.fill("#q", "al")
			tb.waitFor("the list to show only the al… accounts", `document.querySelectorAll("#admin-users tbody tr").length === 2`)
			if !tb.marked() {
				t.Error("the search as you type loaded a new page")
			}
			if hits := app.Hits("GET", "/admin"); len(hits) < 2 || !hits[len(hits)-1].HTMX {
				t.Errorf("no htmx search request: %+v", hits)
			}
			if !strings.Contains(tb.location(), "q=al") {
				t.Errorf("the address does not keep the search: %s", tb.location())
			}
		} else {
			tb.fill("#q", "al")
			tb.submit("form[role=search]", "the search result", `location.search.indexOf("q=al") >= 0`)
		}
		if got := listed(tb); got != "albert,alice" {
			t.Fatalf("search al: %q", got)
		}

		tb.mark()
		tb.click(`#admin-users a[href^="/admin/users/"]:not([href$="/x"])`)
		tb.waitFor("albert's page", `document.querySelector("h1") && document.querySelector("h1").textContent === "albert"`)
		tb.submit(`form[action$="/disable"]`, "the notice", `document.querySelector(".notice") !== null`)
		if n := tb.text(".notice"); !strings.Contains(n, "disabled") {
			t.Errorf("notice %q", n)
		}
		for _, v := range axeViolations(tb) {
			t.Errorf("account page after disabling: %s", v)
		}
		u, err := app.Store.UserByUsername(context.Background(), "albert")
		if err != nil || !u.Disabled() {
			t.Fatalf("albert: %+v, %v", u, err)
		}
		r := app.NewClient(t).Post("/signin", url.Values{"username": {"albert"}, "password": {testPassword}})
		if r.StatusCode != 403 || !strings.Contains(r.Body, "This account is disabled.") {
			t.Errorf("albert signs in: %d", r.StatusCode)
		}
		tb.open("/admin/log")
		if body := tb.bodyText(); !strings.Contains(body, "disabled the account") || !strings.Contains(body, "albert") {
			t.Errorf("admin log:\n%s", body)
		}
		for _, v := range axeViolations(tb) {
			t.Errorf("admin log: %s", v)
		}
		tb.open(fmt.Sprintf("/admin/users/%d", u.ID))
		tb.submit(`form[action$="/delete"]`, "the confirmation step", `document.querySelector("h1").textContent.indexOf("Delete") === 0`)
		for _, v := range axeViolations(tb) {
			t.Errorf("delete confirmation: %s", v)
		}
	})
}
