package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/db"
	"gatehouse/handlers"
	"gatehouse/internal/apptest"
)

// adminServer runs Gatehouse on a clock the test controls, with "root"
// (an admin, signed in as rootClient) and "alice" (signed in as
// aliceClient).
func adminServer(t *testing.T) (srv *apptest.Server, clock *fakeClock, root, alice *apptest.Client) {
	t.Helper()
	clock = &fakeClock{t: time.Now()}
	srv = apptest.Start(t, apptest.Options{Configure: func(cfg *handlers.Config) { cfg.Now = clock.Now }})
	srv.NewClient(t).Signup("root", "root@example.com", alicePW)
	srv.NewClient(t).Signup("alice", "alice@example.com", alicePW)
	if err := srv.Store.SetAdmin(context.Background(), userID(t, srv, "root"), true); err != nil {
		t.Fatal(err)
	}
	root = signinAs(t, srv, "root", alicePW, firefox)
	alice = signinAs(t, srv, "alice", alicePW, chrome)
	return srv, clock, root, alice
}

func userID(t *testing.T, srv *apptest.Server, username string) int64 {
	t.Helper()
	u, err := srv.Store.UserByUsername(context.Background(), username)
	if err != nil {
		t.Fatalf("user %s: %v", username, err)
	}
	return u.ID
}

func lookUser(t *testing.T, srv *apptest.Server, username string) *db.User {
	t.Helper()
	u, err := srv.Store.UserByUsername(context.Background(), username)
	if err != nil {
		t.Fatalf("user %s: %v", username, err)
	}
	return u
}

// wantCode stops the test unless r has status want.
func wantCode(t *testing.T, r *apptest.Response, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d\n%s", r.Request.Method, r.Request.URL, r.StatusCode, want, r.Body)
	}
}

// The admin pages: signed out goes to sign-in, a signed-in non-admin
// gets 404 for every page and action (nothing changes), an admin sees
// them; the navigation links to them for admins only.
func TestAdminPagesAreForAdminsOnly(t *testing.T) {
	srv, _, root, alice := adminServer(t)
	rootID := userID(t, srv, "root")
	pages := []string{"/admin", "/admin?q=a", fmt.Sprintf("/admin/users/%d", rootID), "/admin/log"}
	guest := srv.NewClient(t)
	for _, p := range pages {
		r := guest.Get(p)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/signin?next="+url.QueryEscape(p) {
			t.Errorf("signed out GET %s: %d %s", p, r.StatusCode, r.Header.Get("Location"))
		}
		if r := alice.Get(p); r.StatusCode != http.StatusNotFound || !strings.Contains(r.Body, "Page not found") {
			t.Errorf("non-admin GET %s: %d", p, r.StatusCode)
		}
		if r := root.Get(p); r.StatusCode != http.StatusOK {
			t.Errorf("admin GET %s: %d", p, r.StatusCode)
		}
	}
	for _, action := range []string{"disable", "signout", "grant-admin", "delete"} {
		p := fmt.Sprintf("/admin/users/%d/%s", rootID, action)
		r := alice.Post(p, url.Values{"current_password": {alicePW}, "confirm": {"yes"}})
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("non-admin POST %s: %d", p, r.StatusCode)
		}
		if r := guest.Post(p, url.Values{}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("signed out POST %s: %d", p, r.StatusCode)
		}
	}
	if u := lookUser(t, srv, "root"); u.Disabled() || !u.Admin {
		t.Fatalf("root after alice's attempts: %+v", u)
	}
	if !signedIn(t, root) {
		t.Error("root was signed out by alice's attempts")
	}
	if r := root.Get("/dashboard"); !strings.Contains(r.Body, `href="/admin"`) {
		t.Error("an admin's navigation has no link to /admin")
	}
	if r := alice.Get("/dashboard"); strings.Contains(r.Body, `href="/admin"`) {
		t.Error("a non-admin's navigation links to /admin")
	}
	// Unknown accounts and actions are 404 for admins too.
	for _, p := range []string{"/admin/users/999999", "/admin/users/abc", "/admin/users/-1"} {
		if r := root.Get(p); r.StatusCode != http.StatusNotFound {
			t.Errorf("admin GET %s: %d", p, r.StatusCode)
		}
	}
	if r := root.Post(fmt.Sprintf("/admin/users/%d/explode", rootID), url.Values{}); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown action: %d", r.StatusCode)
	}
	if r := root.Post("/admin/users/999999/disable", url.Values{}); r.StatusCode != http.StatusNotFound {
		t.Errorf("action on nobody: %d", r.StatusCode)
	}
}

// /api/me says whether the account is an admin.
func TestAPIMeAdmin(t *testing.T) {
	_, _, root, alice := adminServer(t)
	if r := root.Get("/api/me"); !strings.Contains(r.Body, `"admin":true`) {
		t.Errorf("root: %s", r.Body)
	}
	if r := alice.Get("/api/me"); !strings.Contains(r.Body, `"admin":false`) {
		t.Errorf("alice: %s", r.Body)
	}
}

// The list: 50 a page with links between pages, searched by username or
// email (q, case-insensitive, % and _ taken literally); htmx gets the
// list alone; the columns of §13.
func TestAdminListSearchAndPages(t *testing.T) {
	srv, _, root, _ := adminServer(t)
	ctx := context.Background()
	for i := range 55 {
		name := fmt.Sprintf("user%02d", i)
		if _, err := srv.Store.CreateUser(ctx, name, name+"@corp.example", "x", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	r := root.Get("/admin")
	wantCode(t, r, http.StatusOK)
	if n := strings.Count(r.Body, `href="/admin/users/`); n != 50 {
		t.Errorf("first page lists %d accounts, want 50", n)
	}
	wantBody(t, r, "Username", "Email", "Verified", "Groups", "Admin", "Disabled", "Created", "Last sign-in",
		`href="/admin?page=2"`, `name="q"`)
	r = root.Get("/admin?page=2")
	if n := strings.Count(r.Body, `href="/admin/users/`); n != 57-50 {
		t.Errorf("second page lists %d accounts, want 7", n)
	}
	wantBody(t, r, `href="/admin"`, "Page 2")

	r = root.Get("/admin?q=USER07")
	if n := strings.Count(r.Body, `href="/admin/users/`); n != 1 || !strings.Contains(r.Body, "user07@corp.example") {
		t.Errorf("q=USER07 lists %d accounts:\n%s", n, r.Body)
	}
	r = root.Get("/admin?q=alice%40example")
	if n := strings.Count(r.Body, `href="/admin/users/`); n != 1 || !strings.Contains(r.Body, ">alice<") {
		t.Errorf("search by email lists %d", n)
	}
	for _, q := range []string{"%", "_", "user_1", "nobody"} {
		r = root.Get("/admin?q=" + url.QueryEscape(q))
		if n := strings.Count(r.Body, `href="/admin/users/`); n != 0 || !strings.Contains(r.Body, "No account matches") {
			t.Errorf("q=%q lists %d accounts", q, n)
		}
	}
	// Paging keeps the search.
	r = root.Get("/admin?q=user")
	wantBody(t, r, `href="/admin?page=2&amp;q=user"`)

	r = root.Get("/admin?q=user01", "HX-Request", "true")
	if strings.Contains(r.Body, "<!DOCTYPE") || !strings.Contains(r.Body, `id="admin-users"`) || !strings.Contains(r.Body, "user01") {
		t.Errorf("htmx search answered a whole page or no list:\n%s", r.Body)
	}
	if !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "HX-Request") {
		t.Errorf("Vary = %q", r.Header.Values("Vary"))
	}
	for _, p := range []string{"/admin?page=0", "/admin?page=abc", "/admin?page=99999999999"} {
		if r := root.Get(p); r.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", p, r.StatusCode)
		}
	}
}

// An action from a session whose password is older than 15 minutes asks
// to confirm it's you; the action waits for the password, then runs; for
// 15 minutes after, actions run straight away.
func TestAdminActionNeedsRecentPassword(t *testing.T) {
	srv, clock, root, _ := adminServer(t)
	aliceID := userID(t, srv, "alice")
	disable := fmt.Sprintf("/admin/users/%d/disable", aliceID)

	clock.Advance(16 * time.Minute)
	r := root.Post(disable, url.Values{})
	wantCode(t, r, http.StatusForbidden)
	wantBody(t, r, "Confirm it&#39;s you", `action="`+disable+`"`, `name="current_password"`)
	if lookUser(t, srv, "alice").Disabled() {
		t.Fatal("disabled without the password")
	}
	r = root.Post(disable, url.Values{"current_password": {"wrong password"}})
	wantCode(t, r, http.StatusUnprocessableEntity)
	wantBody(t, r, "That password is not correct.")
	r = root.Post(disable, url.Values{"current_password": {""}})
	wantCode(t, r, http.StatusUnprocessableEntity)
	wantBody(t, r, "Enter your password.")
	if lookUser(t, srv, "alice").Disabled() {
		t.Fatal("disabled after a wrong password")
	}
	r = root.Post(disable, url.Values{"current_password": {alicePW}})
	wantCode(t, r, http.StatusSeeOther)
	if !lookUser(t, srv, "alice").Disabled() {
		t.Fatal("not disabled after the password")
	}
	// Within 15 minutes of that: straight through.
	clock.Advance(14 * time.Minute)
	wantCode(t, root.Post(fmt.Sprintf("/admin/users/%d/enable", aliceID), url.Values{}), http.StatusSeeOther)
	clock.Advance(2 * time.Minute)
	wantCode(t, root.Post(disable, url.Values{}), http.StatusForbidden)

	// Delete carries its confirmation through the password page.
	del := fmt.Sprintf("/admin/users/%d/delete", aliceID)
	r = root.Post(del, url.Values{"confirm": {"yes"}})
	wantCode(t, r, http.StatusForbidden)
	wantBody(t, r, `name="confirm" value="yes"`)
	wantCode(t, root.Post(del, url.Values{"confirm": {"yes"}, "current_password": {alicePW}}), http.StatusSeeOther)
	if _, err := srv.Store.UserByID(context.Background(), aliceID); err == nil {
		t.Error("alice is still there")
	}

	// A password entered on the account page counts too.
	srv.NewClient(t).Signup("bob", "bob@example.com", alicePW)
	clock.Advance(time.Hour)
	wantCode(t, root.Post("/account/email", url.Values{"email": {"root2@example.com"}, "current_password": {alicePW}}), http.StatusSeeOther)
	wantCode(t, root.Post(fmt.Sprintf("/admin/users/%d/verify", userID(t, srv, "bob")), url.Values{}), http.StatusSeeOther)
}

// Each action does what it says, is in the admin log (who, when, on whom)
// and in the account's activity, by the admin's name.
func TestAdminActions(t *testing.T) {
	srv, _, root, alice := adminServer(t)
	ctx := context.Background()
	aliceID := userID(t, srv, "alice")
	act := func(action string) {
		t.Helper()
		r := root.Post(fmt.Sprintf("/admin/users/%d/%s", aliceID, action), url.Values{})
		wantCode(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != fmt.Sprintf("/admin/users/%d", aliceID) {
			t.Errorf("%s went to %s", action, loc)
		}
	}

	act("signout")
	if signedIn(t, alice) {
		t.Error("alice is signed in after sign out everywhere")
	}
	alice = signinAs(t, srv, "alice", alicePW, chrome)

	act("disable")
	if signedIn(t, alice) {
		t.Error("alice is signed in after disable")
	}
	r := srv.NewClient(t).Post("/signin", url.Values{"username": {"alice"}, "password": {alicePW}})
	wantCode(t, r, http.StatusForbidden)
	wantBody(t, r, "This account is disabled.")
	r = srv.NewClient(t).Post("/signin", url.Values{"username": {"alice"}, "password": {"wrong password"}})
	wantCode(t, r, http.StatusUnauthorized)
	if r := root.Get("/admin?q=alice"); !strings.Contains(r.Body, "disabled") {
		t.Error("the list does not show alice disabled")
	}
	act("enable")
	alice = signinAs(t, srv, "alice", alicePW, chrome)

	act("verify")
	if !lookUser(t, srv, "alice").EmailVerified() {
		t.Error("not verified")
	}
	act("grant-admin")
	if r := alice.Get("/api/me"); !strings.Contains(r.Body, `"admin":true`) {
		t.Errorf("after grant: %s", r.Body)
	}
	act("remove-admin")
	if r := alice.Get("/admin"); r.StatusCode != http.StatusNotFound {
		t.Errorf("after remove: /admin %d", r.StatusCode)
	}
	act("send-reset")
	srv.App.Wait()
	if !strings.Contains(srv.Logs.String(), "/reset?token=") {
		t.Error("no reset link was sent")
	}

	// The account's page shows its sessions and its activity, admin
	// actions by the admin's name.
	r = root.Get(fmt.Sprintf("/admin/users/%d", aliceID))
	wantBody(t, r, "alice@example.com", "Chrome on Windows", "(by root)", "Disabled the account")

	// The admin log, newest first.
	r = root.Get("/admin/log")
	wantCode(t, r, http.StatusOK)
	order := []string{"sent a reset link", "removed admin", "granted admin", "marked the email address verified",
		"enabled the account", "disabled the account", "signed out everywhere"}
	last := -1
	for _, what := range order {
		i := strings.Index(r.Body, what)
		if i < 0 || i < last {
			t.Errorf("admin log lacks %q or has it out of order:\n%s", what, r.Body)
		}
		last = i
	}
	if n := strings.Count(r.Body, ">root<"); n < len(order) {
		t.Errorf("admin log names root %d times, want %d", n, len(order))
	}
	// Deleting: a confirmation step first, then the account is gone, and
	// the log keeps its name.
	del := fmt.Sprintf("/admin/users/%d/delete", aliceID)
	r = root.Post(del, url.Values{})
	wantCode(t, r, http.StatusOK)
	wantBody(t, r, "Delete alice?", `name="confirm" value="yes"`)
	if _, err := srv.Store.UserByID(ctx, aliceID); err != nil {
		t.Fatal("deleted before the confirmation")
	}
	r = root.Post(del, url.Values{"confirm": {"yes"}})
	wantCode(t, r, http.StatusSeeOther)
	if r.Header.Get("Location") != "/admin" {
		t.Errorf("after delete: %s", r.Header.Get("Location"))
	}
	if _, err := srv.Store.UserByID(ctx, aliceID); err == nil {
		t.Error("alice survived")
	}
	if signedIn(t, alice) {
		t.Error("alice's session survived the deletion")
	}
	r = root.Get("/admin/log")
	wantBody(t, r, "deleted the account", ">alice<")
}

// An admin cannot disable, demote or delete themselves; the page offers
// no such button, and a forged post is refused with a message.
func TestAdminCannotLockThemselvesOut(t *testing.T) {
	srv, _, root, _ := adminServer(t)
	rootID := userID(t, srv, "root")
	page := root.Get(fmt.Sprintf("/admin/users/%d", rootID))
	for _, action := range []string{"disable", "remove-admin", "delete"} {
		if strings.Contains(page.Body, fmt.Sprintf("/admin/users/%d/%s", rootID, action)) {
			t.Errorf("own page offers %s", action)
		}
		r := root.Post(fmt.Sprintf("/admin/users/%d/%s", rootID, action), url.Values{"confirm": {"yes"}, "current_password": {alicePW}})
		wantCode(t, r, http.StatusForbidden)
		wantBody(t, r, "You cannot do that to your own account")
	}
	if u := lookUser(t, srv, "root"); !u.Admin || u.Disabled() {
		t.Errorf("root after the attempts: %+v", u)
	}
	// Signing out everywhere from one's own page keeps this session.
	other := signinAs(t, srv, "root", alicePW, safari)
	wantCode(t, root.Post(fmt.Sprintf("/admin/users/%d/signout", rootID), url.Values{}), http.StatusSeeOther)
	if !signedIn(t, root) || signedIn(t, other) {
		t.Error("own sign out everywhere: this session should stay and the other end")
	}
}

// Reset two-step: the list and the page show the second factor, the
// action turns it off and signs the account out everywhere.
func TestAdminResetTwoStep(t *testing.T) {
	srv, _, root, alice := adminServer(t)
	ctx := context.Background()
	aliceID := userID(t, srv, "alice")
	if err := srv.Store.EnableTOTP(ctx, aliceID, []byte("sealed"), []string{"h1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := root.Get("/admin?q=alice"); !strings.Contains(r.Body, "<td>on</td>") {
		t.Errorf("the list does not show alice's two-step on:\n%s", r.Body)
	}
	page := root.Get(fmt.Sprintf("/admin/users/%d", aliceID))
	wantBody(t, page, fmt.Sprintf("/admin/users/%d/reset-2fa", aliceID))
	wantCode(t, root.Post(fmt.Sprintf("/admin/users/%d/reset-2fa", aliceID), url.Values{}), http.StatusSeeOther)
	if has, err := srv.Store.HasSecondFactor(ctx, aliceID); err != nil || has {
		t.Errorf("after reset: %v, %v", has, err)
	}
	if signedIn(t, alice) {
		t.Error("alice is still signed in after the reset")
	}
	wantBody(t, root.Get("/admin/log"), "reset two-step sign-in")
}

// "Set groups" on an account's page (product.md §11, §13): the form shows
// the groups; a bad name is answered 422 next to the field with nothing
// changed; the password page carries the groups through; a good list is
// set, shown, in the admin log and in the account's activity; empty
// clears.
func TestAdminSetGroups(t *testing.T) {
	srv, clock, root, alice := adminServer(t)
	aliceID := userID(t, srv, "alice")
	page := fmt.Sprintf("/admin/users/%d", aliceID)
	set := page + "/groups"

	r := root.Get(page)
	wantCode(t, r, http.StatusOK)
	wantBody(t, r, `action="`+set+`"`, `name="groups"`, "Set groups")

	r = root.Post(set, url.Values{"groups": {"family, Bad Name"}})
	wantCode(t, r, http.StatusUnprocessableEntity)
	wantBody(t, r, "A group name is 1 to 32 characters of a–z, 0–9, _ and -.", `aria-invalid="true"`, `value="family, Bad Name"`)
	if g := lookUser(t, srv, "alice").Groups; len(g) != 0 {
		t.Fatalf("groups after a bad name: %v", g)
	}

	// A stale password: the confirmation page keeps the groups.
	clock.Advance(16 * time.Minute)
	r = root.Post(set, url.Values{"groups": {"family,admins"}})
	wantCode(t, r, http.StatusForbidden)
	wantBody(t, r, `name="groups" value="family,admins"`)
	r = root.Post(set, url.Values{"groups": {"family,admins"}, "current_password": {alicePW}})
	wantCode(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != page {
		t.Errorf("went to %s", loc)
	}
	if g := strings.Join(lookUser(t, srv, "alice").Groups, ","); g != "admins,family" {
		t.Errorf("groups %q, want admins,family", g)
	}
	if r := alice.Get("/api/me"); !strings.Contains(r.Body, `"groups":["admins","family"]`) {
		t.Errorf("/api/me: %s", r.Body)
	}
	r = root.Get(page)
	wantBody(t, r, "admins, family", "(by root)")
	wantBody(t, root.Get("/admin/log"), "set groups: family, admins", ">alice<")

	wantCode(t, root.Post(set, url.Values{"groups": {""}}), http.StatusSeeOther)
	if g := lookUser(t, srv, "alice").Groups; len(g) != 0 {
		t.Errorf("groups after clearing: %v", g)
	}
	wantBody(t, root.Get("/admin/log"), "set groups: none")

	// A non-admin cannot.
	wantCode(t, alice.Post(set, url.Values{"groups": {"admins"}}), http.StatusNotFound)
}

// product.md §13: "Admin actions need the admin's password entered within
// the last 15 minutes". A passkey sign-in enters no password: when it
// replaces a session of the same browser in which someone (here another
// account) typed a password a moment ago, that password does not count
// for the admin, who is still asked to confirm it's them.
func TestAdminPasskeySigninAfterAnotherPasswordMustConfirm(t *testing.T) {
	const base = "http://auth.gatehouse.test"
	clock := &fakeClock{t: time.Now()}
	srv := apptest.Start(t, apptest.Options{BaseURL: base, Configure: func(cfg *handlers.Config) { cfg.Now = clock.Now }})
	browser := apptest.NewClientVia(t, base, srv.Addr())
	apptest.NewClientVia(t, base, srv.Addr()).Signup("root", "root@example.com", alicePW)
	browser.Signup("alice", "alice@example.com", alicePW) // alice types her password here
	rootID := userID(t, srv, "root")
	if err := srv.Store.SetAdmin(context.Background(), rootID, true); err != nil {
		t.Fatal(err)
	}
	pk := addSoftPasskey(t, srv, "auth.gatehouse.test", base, rootID)

	clock.Advance(time.Minute)
	if r, m := passkeySignin(t, browser, pk, nil); r.StatusCode != http.StatusOK || m["redirect"] != "/dashboard" {
		t.Fatalf("root's passkey sign-in: %d %v", r.StatusCode, m)
	}
	if me := browser.Get("/api/me"); !strings.Contains(me.Body, `"username":"root"`) {
		t.Fatalf("not signed in as root: %s", me.Body)
	}
	disable := fmt.Sprintf("/admin/users/%d/disable", userID(t, srv, "alice"))
	r := browser.Post(disable, url.Values{})
	wantCode(t, r, http.StatusForbidden)
	wantBody(t, r, "Confirm it&#39;s you")
	if lookUser(t, srv, "alice").Disabled() {
		t.Fatal("alice disabled by an admin who entered no password")
	}
	// With root's own password, the action goes through.
	wantCode(t, browser.Post(disable, url.Values{"current_password": {alicePW}}), http.StatusSeeOther)
	if !lookUser(t, srv, "alice").Disabled() {
		t.Fatal("not disabled after root's password")
	}
}

// product.md §13: the account's activity shows every admin action on it,
// and who did it. SQLite gives a new account the id of a deleted one
// when that was the highest; the activity must not name the newcomer as
// the admin who acted before it existed.
func TestAdminActionByDeletedAdminNotNamedAfterNewcomer(t *testing.T) {
	srv, clock, root, alice := adminServer(t)
	srv.NewClient(t).Signup("zed", "zed@example.com", alicePW)
	zedID := userID(t, srv, "zed")
	if err := srv.Store.SetAdmin(context.Background(), zedID, true); err != nil {
		t.Fatal(err)
	}
	zed := signinAs(t, srv, "zed", alicePW, firefox)
	wantCode(t, zed.Post(fmt.Sprintf("/admin/users/%d/verify", userID(t, srv, "alice")), url.Values{}), http.StatusSeeOther)
	wantBody(t, alice.Get("/account/activity"), "(by zed)")

	clock.Advance(time.Minute)
	wantCode(t, root.Post(fmt.Sprintf("/admin/users/%d/delete", zedID), url.Values{"confirm": {"yes"}}), http.StatusSeeOther)
	clock.Advance(time.Minute)
	srv.NewClient(t).Signup("mallory", "mallory@example.com", alicePW)
	if id := userID(t, srv, "mallory"); id != zedID {
		t.Skipf("the new account got id %d, not the deleted %d: nothing to tell apart", id, zedID)
	}
	r := alice.Get("/account/activity")
	if strings.Contains(r.Body, "mallory") {
		t.Errorf("the deleted admin's action is shown as mallory's:\n%s", r.Body)
	}
	wantBody(t, r, "Marked the email address verified", "(by an admin)")
	wantBody(t, root.Get(fmt.Sprintf("/admin/users/%d", userID(t, srv, "alice"))), "(by an admin)")
}
