package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/db"
)

// The OpenID Connect clients on the admin page (product.md §12, §13):
// listed with their details; Add answers 422 next to the field for a bad
// name or redirect URI, carries the form through "confirm it's you", and
// shows a confidential client's secret once (only its hash is stored);
// Delete asks first; both are in the admin log; non-admins get 404; the
// accounts page links to it.
func TestAdminClients(t *testing.T) {
	srv, clock, root, alice := adminServer(t)
	ctx := context.Background()

	wantBody(t, root.Get("/admin"), `href="/admin/clients"`)
	r := root.Get("/admin/clients")
	wantCode(t, r, http.StatusOK)
	wantBody(t, r, "No apps yet.", `action="/admin/clients"`, `name="redirect_uris"`, `name="public"`, `name="trusted"`)
	wantCode(t, alice.Get("/admin/clients"), http.StatusNotFound)
	wantCode(t, alice.Post("/admin/clients", url.Values{"name": {"X"}, "redirect_uris": {"https://x.example/cb"}}), http.StatusNotFound)

	// Bad input: 422, the message at the field, the values back, nothing added.
	for _, c := range []struct{ name, uris, field, msg string }{
		{"", "https://grafana.example.com/cb", "client-name", "Give the app a name."},
		{"Grafana", "", "client-redirect_uris", "Give at least one redirect URI."},
		{"Grafana", "https://grafana.example.com/cb\nftp://nope", "client-redirect_uris", "is not an http:// or https:// address."},
	} {
		r := root.Post("/admin/clients", url.Values{"name": {c.name}, "redirect_uris": {c.uris}})
		wantCode(t, r, http.StatusUnprocessableEntity)
		wantBody(t, r, c.msg, `id="`+c.field+`"`)
		if !regexp.MustCompile(`id="` + c.field + `"[^>]*aria-invalid="true"`).MatchString(r.Body) {
			t.Errorf("%q: %s not marked invalid", c.msg, c.field)
		}
	}
	if l, _ := srv.Store.ListClients(ctx); len(l) != 0 {
		t.Fatalf("clients after bad input: %+v", l)
	}

	// A stale password: the confirmation page carries the form.
	clock.Advance(16 * time.Minute)
	form := url.Values{"name": {"Grafana"}, "redirect_uris": {"https://grafana.example.com/login/generic_oauth\r\nhttps://grafana.example.com/"}, "trusted": {"on"}}
	r = root.Post("/admin/clients", form)
	wantCode(t, r, http.StatusForbidden)
	wantBody(t, r, `name="name" value="Grafana"`, `name="trusted" value="on"`, `name="redirect_uris"`)
	form.Set("current_password", alicePW)
	r = root.Post("/admin/clients", form)
	wantCode(t, r, http.StatusOK)
	m := regexp.MustCompile(`client_secret</dt>\s*<dd><code>([^<]+)</code>`).FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no secret shown:\n%s", r.Body)
	}
	secret := m[1]
	l, err := srv.Store.ListClients(ctx)
	if err != nil || len(l) != 1 {
		t.Fatalf("clients: %+v %v", l, err)
	}
	g := l[0]
	if g.Name != "Grafana" || g.Public || !g.Trusted || len(g.RedirectURIs) != 2 || g.SecretHash != db.HashToken(secret) {
		t.Errorf("stored client: %+v", g)
	}
	wantBody(t, r, g.ID)
	// Listed, the secret never again.
	r = root.Get("/admin/clients")
	wantBody(t, r, "Grafana", g.ID, "https://grafana.example.com/login/generic_oauth", "confidential", "trusted")
	if strings.Contains(r.Body, secret) {
		t.Error("the list shows the secret")
	}

	// A public client has no secret.
	r = root.Post("/admin/clients", url.Values{"name": {"SPA"}, "redirect_uris": {"https://spa.example.com/cb"}, "public": {"on"}})
	wantCode(t, r, http.StatusOK)
	if strings.Contains(r.Body, "client_secret") {
		t.Error("a public client got a secret")
	}

	// Delete: a confirmation step, then gone.
	del := "/admin/clients/" + g.ID + "/delete"
	r = root.Post(del, url.Values{})
	wantCode(t, r, http.StatusOK)
	wantBody(t, r, "Delete Grafana?", `name="confirm" value="yes"`)
	if _, err := srv.Store.Client(ctx, g.ID); err != nil {
		t.Fatal("deleted before the confirmation")
	}
	r = root.Post(del, url.Values{"confirm": {"yes"}})
	wantCode(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/admin/clients" {
		t.Errorf("after delete: %s", loc)
	}
	if _, err := srv.Store.Client(ctx, g.ID); err == nil {
		t.Error("the client survived")
	}
	wantCode(t, root.Post(del, url.Values{"confirm": {"yes"}}), http.StatusNotFound)
	wantBody(t, root.Get("/admin/clients"), "was deleted")

	r = root.Get("/admin/log")
	wantBody(t, r, "added the app: Grafana ("+g.ID+")", "deleted the app: Grafana ("+g.ID+")", "added the app: SPA")
}
