package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"gatehouse/db"
	"gatehouse/oidcop"
	"gatehouse/views"
)

// The OpenID Connect clients on the admin page (product.md §12, §13):
// the list, Add and Delete. They call what `gatehouse client add|delete`
// calls (package oidcop), need the admin's password from the last 15
// minutes like every admin action, and go into the admin log.

const formClient = "client"

// clientForm is the "Add an app" form; the redirect URIs one per line.
type clientForm struct {
	Name            string `form:"name"`
	RedirectURIs    string `form:"redirect_uris"`
	Public          string `form:"public"`
	Trusted         string `form:"trusted"`
	CurrentPassword string `form:"current_password"`
	Confirm         string `form:"confirm"`
}

// adminClientsPage is GET /admin/clients.
func (a *App) adminClientsPage(c *gin.Context) {
	a.showClients(c, http.StatusOK, views.Form{}, nil)
}

// showClients renders the clients page: the add form as posted (with its
// errors), and a client just added with its secret, shown this once.
func (a *App) showClients(c *gin.Context, status int, form views.Form, added *views.AddedClient) {
	list, err := a.store.ListClients(c.Request.Context())
	if err != nil {
		a.serverError(c, err)
		return
	}
	d := a.data(c, "Apps · Admin")
	d.Wide = true
	for _, cl := range list {
		d.Admin.Clients = append(d.Admin.Clients, clientRow(cl))
	}
	d.Admin.Added = added
	form.ID = formClient
	d.Form = form
	a.render(c, status, views.PageAdminClients, d)
}

func clientRow(cl db.OIDCClient) views.ClientRow {
	return views.ClientRow{ID: cl.ID, Name: cl.Name, RedirectURIs: cl.RedirectURIs,
		Public: cl.Public, Trusted: cl.Trusted, CreatedAt: cl.CreatedAt}
}

// adminAddClient is POST /admin/clients: registers an app. A bad name or
// redirect URI is answered 422 next to its field; a confidential client's
// secret is on the page answered (never stored, never shown again).
func (a *App) adminAddClient(c *gin.Context) {
	var f clientForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	if !a.passwordFresh(c) && a.confirmIdentity(c, "add an app", f.CurrentPassword) {
		return
	}
	values := map[string]string{"name": f.Name, "redirect_uris": f.RedirectURIs, "public": f.Public, "trusted": f.Trusted}
	var uris []string
	for _, line := range strings.Split(f.RedirectURIs, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			uris = append(uris, line)
		}
	}
	cl, secret, err := oidcop.AddClient(c.Request.Context(), a.store, oidcop.NewClient{
		Name: f.Name, RedirectURIs: uris, Public: f.Public == "on", Trusted: f.Trusted == "on",
	}, a.cfg.Now())
	var bad *oidcop.ClientError
	if errors.As(err, &bad) {
		var v validator
		field := bad.Field
		if field == "redirect_uri" {
			field = "redirect_uris"
		}
		v.add(field, bad.Message)
		a.showClients(c, http.StatusUnprocessableEntity, v.form(values, ""), nil)
		return
	}
	if err != nil {
		a.serverError(c, err)
		return
	}
	a.recordClientAction(c, "added the app", cl)
	a.showClients(c, http.StatusOK, views.Form{}, &views.AddedClient{ID: cl.ID, Name: cl.Name, Secret: secret})
}

// adminDeleteClient is POST /admin/clients/ID/delete: a confirmation step
// first (confirm=yes), then the app and every token of it are gone.
func (a *App) adminDeleteClient(c *gin.Context) {
	var f clientForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	cl, err := a.store.Client(c.Request.Context(), c.Param("client_id"))
	if errors.Is(err, db.ErrNotFound) {
		a.notFound(c)
		return
	}
	if err != nil {
		a.serverError(c, err)
		return
	}
	if !a.passwordFresh(c) && a.confirmIdentity(c, "delete the app "+cl.Name, f.CurrentPassword) {
		return
	}
	if f.Confirm != "yes" {
		d := a.data(c, "Delete "+cl.Name)
		d.Admin.Client = clientRow(*cl)
		a.render(c, http.StatusOK, views.PageAdminClientDelete, d)
		return
	}
	if err := oidcop.DeleteClient(c.Request.Context(), a.store, cl.ID); errors.Is(err, oidcop.ErrUnknownClient) {
		a.notFound(c)
		return
	} else if err != nil {
		a.serverError(c, err)
		return
	}
	a.recordClientAction(c, "deleted the app", cl)
	a.setNotice(c, "The app "+cl.Name+" was deleted; its tokens no longer work.")
	a.redirect(c, "/admin/clients")
}

// recordClientAction writes an action on an app to the admin log: no
// account is its target, so the app's name and client_id are its detail.
func (a *App) recordClientAction(c *gin.Context, what string, cl *db.OIDCClient) {
	me := currentUser(c)
	err := a.store.AddAdminLog(context.WithoutCancel(c.Request.Context()), db.AdminLogEntry{
		At: a.cfg.Now(), ActorID: me.ID, ActorName: me.Username,
		Action: what, Detail: cl.Name + " (" + cl.ID + ")", IP: c.ClientIP(),
	})
	if err != nil {
		a.log.Error("admin log", "err", err)
	}
	a.log.Info("admin action", "admin_id", me.ID, "client_id", cl.ID, "action", what)
}
