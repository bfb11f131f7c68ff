package handlers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/useragent"
	"gatehouse/views"
)

// The admin pages of product.md §13: the accounts (searchable), one
// account with its sessions, activity and actions, and the admin log.
// Only admins see them: a signed-in non-admin gets 404 (requireAdmin).
// Every action is a POST form (adminAction), needs the admin's password
// from the last 15 minutes, and is recorded in the admin log and in the
// account's activity.

// adminPageSize is how many rows a page of a list shows.
const adminPageSize = 50

// freshPassword is how long an entered password lets an admin act.
const freshPassword = 15 * time.Minute

// passwordAtKey is the session value that holds when (Unix seconds) this
// session's user last entered their password: at sign-in with it, in an
// account form, or on the "confirm it's you" page.
const passwordAtKey = "pw_at"

const (
	msgAdminSelf         = "You cannot do that to your own account: ask another admin."
	msgConfirmPassword   = "Enter your password."
	msgConfirmWrong      = "That password is not correct."
	noticeAdminSignedOut = "Every session of that account was signed out."
)

// requireAdmin lets admins through and answers 404 to everyone else
// signed in, so the admin pages do not even tell that they exist.
// requireUser runs first: signed out goes to sign-in.
func (a *App) requireAdmin(c *gin.Context) {
	if u := currentUser(c); u == nil || !u.Admin {
		a.notFound(c)
		c.Abort()
		return
	}
	c.Next()
}

// notePassword records that the user entered their password just now.
func (a *App) notePassword(c *gin.Context) {
	a.sessions.Put(c.Request.Context(), passwordAtKey, a.cfg.Now().Unix())
}

// notePasswordOf notes the password of a sign-in by a method that asks
// for it (every one but a passkey).
func (a *App) notePasswordOf(c *gin.Context, m account.Method) {
	if m != account.MethodPasskey {
		a.notePassword(c)
	}
}

// passwordFresh reports whether the session's password was entered within
// the last 15 minutes.
func (a *App) passwordFresh(c *gin.Context) bool {
	at := a.sessions.GetInt64(c.Request.Context(), passwordAtKey)
	return at != 0 && a.cfg.Now().Sub(time.Unix(at, 0)) <= freshPassword
}

// pageParam reads ?page= (1 when absent or not a sensible number).
func pageParam(c *gin.Context) int {
	p, err := strconv.Atoi(c.Query("page"))
	if err != nil || p < 1 || p > 1_000_000 {
		return 1
	}
	return p
}

// pageRows is the LIMIT and OFFSET that read page (from 1) of a paged
// list: one row beyond the page, so that trimPage can tell whether a next
// page exists.
func pageRows(page int) (limit, offset int) {
	return adminPageSize + 1, (page - 1) * adminPageSize
}

// trimPage cuts a list read with pageRows to the page and reports whether
// a next page exists.
func trimPage[T any](list []T) ([]T, bool) {
	if len(list) > adminPageSize {
		return list[:adminPageSize], true
	}
	return list, false
}

// pager links the pages around page; more tells whether a next page has
// rows. The other query values (the search) are kept.
func pager(c *gin.Context, page int, more bool) views.Pager {
	link := func(p int) string {
		q := url.Values{}
		if s := strings.TrimSpace(c.Query("q")); s != "" {
			q.Set("q", s)
		}
		if p > 1 {
			q.Set("page", strconv.Itoa(p))
		}
		if len(q) == 0 {
			return c.Request.URL.Path
		}
		return c.Request.URL.Path + "?" + q.Encode()
	}
	pg := views.Pager{Page: page}
	if page > 1 {
		pg.Prev = link(page - 1)
	}
	if more {
		pg.Next = link(page + 1)
	}
	return pg
}

// adminList is GET /admin: the accounts, 50 a page, searched by username
// or email (q). htmx's search as you type gets the list alone.
func (a *App) adminList(c *gin.Context) {
	q := strings.TrimSpace(c.Query("q"))
	page := pageParam(c)
	limit, offset := pageRows(page)
	list, err := a.store.SearchUsers(c.Request.Context(), q, account.EventSignedIn, limit, offset)
	if err != nil {
		a.serverError(c, err)
		return
	}
	list, more := trimPage(list)
	d := a.data(c, "Accounts")
	d.Wide = true
	d.Admin.Query = q
	d.Admin.Pager = pager(c, page, more)
	for _, l := range list {
		row := adminRow(&l.User, l.LastSignIn)
		if row.TwoStep, err = a.store.HasSecondFactor(c.Request.Context(), l.User.ID); err != nil {
			a.serverError(c, err)
			return
		}
		d.Admin.Users = append(d.Admin.Users, row)
	}
	a.renderForm(c, http.StatusOK, views.PageAdmin, "admin-users", d)
}

// adminRow is an account as the admin pages show it.
func adminRow(u *db.User, lastSignIn time.Time) views.AdminUserRow {
	return views.AdminUserRow{
		ID: u.ID, Username: u.Username, Email: u.Email,
		Verified: u.EmailVerified(), Groups: u.Groups, Admin: u.Admin, Disabled: u.Disabled(),
		CreatedAt: u.CreatedAt, LastSignIn: lastSignIn,
	}
}

// targetUser reads the account an admin URL names (:id); it answers 404
// itself when there is none and returns nil.
func (a *App) targetUser(c *gin.Context) *db.User {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		a.notFound(c)
		return nil
	}
	u, err := a.store.UserByID(c.Request.Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		a.notFound(c)
		return nil
	}
	if err != nil {
		a.serverError(c, err)
		return nil
	}
	return u
}

// adminUserPage is GET /admin/users/ID: one account, its sessions, its
// recent activity and the actions.
func (a *App) adminUserPage(c *gin.Context) {
	target := a.targetUser(c)
	if target == nil {
		return
	}
	a.showAdminUser(c, http.StatusOK, target, "")
}

// showAdminUser renders an account's admin page, with an error for the
// whole page when an action was refused.
func (a *App) showAdminUser(c *gin.Context, status int, target *db.User, problem string) {
	a.showAdminUserForm(c, status, target, problem, views.Form{})
}

// showAdminUserForm renders an account's admin page with a form of it
// (the groups) shown as posted, with its errors.
func (a *App) showAdminUserForm(c *gin.Context, status int, target *db.User, problem string, form views.Form) {
	ctx := c.Request.Context()
	now := a.cfg.Now()
	sessions, err := a.store.UserSessions(ctx, target.ID, now, a.cfg.SessionIdle)
	if err != nil {
		a.serverError(c, err)
		return
	}
	events, err := a.store.UserEvents(ctx, target.ID, now.Add(-account.EventRetention), adminPageSize, 0)
	if err != nil {
		a.serverError(c, err)
		return
	}
	d := a.data(c, target.Username+" · Admin")
	d.Wide = true
	d.Admin.User = adminRow(target, lastSignIn(events))
	if d.Admin.User.TwoStep, err = a.store.HasSecondFactor(ctx, target.ID); err != nil {
		a.serverError(c, err)
		return
	}
	d.Admin.Self = target.ID == currentUser(c).ID
	d.Admin.Error = problem
	if form.ID == "" { // the groups form shows the groups as they are
		form = views.Form{ID: formGroups, Values: map[string]string{"groups": strings.Join(target.Groups, ", ")}}
	}
	d.Form = form
	for _, s := range sessions {
		d.Admin.Sessions = append(d.Admin.Sessions, views.SessionRow{
			ID: s.ID, StartedAt: s.CreatedAt, LastSeen: s.LastSeenAt, IP: s.IP,
			Browser: useragent.Describe(s.UserAgent),
		})
	}
	if d.Admin.Events, err = a.eventRows(ctx, events); err != nil {
		a.serverError(c, err)
		return
	}
	a.render(c, status, views.PageAdminUser, d)
}

// lastSignIn is the time of the newest sign-in among events (newest
// first), or zero.
func lastSignIn(events []db.Event) time.Time {
	for _, e := range events {
		if e.Kind == account.EventSignedIn {
			return e.At
		}
	}
	return time.Time{}
}

// adminLogPage is GET /admin/log: every admin action, newest first.
func (a *App) adminLogPage(c *gin.Context) {
	page := pageParam(c)
	limit, offset := pageRows(page)
	list, err := a.store.AdminLog(c.Request.Context(), limit, offset)
	if err != nil {
		a.serverError(c, err)
		return
	}
	list, more := trimPage(list)
	d := a.data(c, "Admin log")
	d.Wide = true
	d.Admin.Pager = pager(c, page, more)
	for _, e := range list {
		action := e.Action
		if e.Detail != "" {
			action += ": " + e.Detail
		}
		d.Admin.Log = append(d.Admin.Log, views.AdminLogRow{
			At: e.At, Admin: e.ActorName, Action: action, Target: e.TargetName, TargetID: e.TargetID,
		})
	}
	a.render(c, http.StatusOK, views.PageAdminLog, d)
}

// adminActionForm is an admin action as posted: the admin's password when
// the confirmation page asked for it, and the delete confirmation.
type adminActionForm struct {
	CurrentPassword string `form:"current_password"`
	Confirm         string `form:"confirm"`
	Groups          string `form:"groups"` // "Set groups": comma-separated
}

// adminActionDef is one action of the account page, as data: the words
// for the confirmation page and the log, whether an admin may do it to
// their own account, and what it does. do returns the notice shown after.
type adminActionDef struct {
	label  string // the button, for the confirmation page: "Disable account"
	logAs  string // the admin log's words: "disabled the account"
	notOwn bool   // an admin may not do this to themselves
	do     func(a *App, c *gin.Context, target *db.User) (string, error)
}

// adminActions are the actions of POST /admin/users/ID/ACTION.
var adminActions = map[string]adminActionDef{
	"signout": {"sign out everywhere", "signed out everywhere", false, func(a *App, c *gin.Context, u *db.User) (string, error) {
		keep := int64(0)
		if u.ID == currentUser(c).ID {
			keep = currentSession(c).ID // signing oneself out everywhere else
		}
		_, err := a.accounts.SignOutEverywhere(c.Request.Context(), u.ID, keep)
		return noticeAdminSignedOut, err
	}},
	"disable": {"disable the account", "disabled the account", true, func(a *App, c *gin.Context, u *db.User) (string, error) {
		_, err := a.accounts.Disable(c.Request.Context(), u.ID)
		return "The account was disabled and signed out everywhere.", err
	}},
	"enable": {"enable the account", "enabled the account", false, func(a *App, c *gin.Context, u *db.User) (string, error) {
		return "The account was enabled.", a.accounts.Enable(c.Request.Context(), u.ID)
	}},
	"verify": {"mark the email address verified", "marked the email address verified", false, func(a *App, c *gin.Context, u *db.User) (string, error) {
		return "The email address is marked verified.", a.accounts.Verify(c.Request.Context(), u.ID)
	}},
	"send-reset": {"send a reset link", "sent a reset link", false, func(a *App, c *gin.Context, u *db.User) (string, error) {
		a.sendReset(u.Email, db.Event{})
		return "A reset link is on its way to " + u.Email + ".", nil
	}},
	"reset-2fa": {"reset two-step sign-in", "reset two-step sign-in", false, func(a *App, c *gin.Context, u *db.User) (string, error) {
		_, err := a.accounts.ResetSecondFactors(c.Request.Context(), u.ID)
		return "Two-step sign-in was turned off for the account, and it was signed out everywhere.", err
	}},
	"grant-admin": {"make the account an admin", "granted admin", false, func(a *App, c *gin.Context, u *db.User) (string, error) {
		return "The account is an admin now.", a.accounts.SetAdmin(c.Request.Context(), u.ID, true)
	}},
	"remove-admin": {"remove the admin role", "removed admin", true, func(a *App, c *gin.Context, u *db.User) (string, error) {
		return "The account is no longer an admin.", a.accounts.SetAdmin(c.Request.Context(), u.ID, false)
	}},
	"groups": {"set the groups", "set groups", false, func(a *App, c *gin.Context, u *db.User) (string, error) {
		groups := account.SplitGroups(c.PostForm("groups"))
		// SetGroups records the change, with the names, in the account's
		// activity itself.
		if err := a.accounts.SetGroups(c.Request.Context(), u, groups, currentUser(c).ID); err != nil {
			return "", err
		}
		if len(groups) == 0 {
			return "The account's groups were cleared.", nil
		}
		return "The account's groups are " + strings.Join(groups, ", ") + " now.", nil
	}},
	"delete": {"delete the account", "deleted the account", true, func(a *App, c *gin.Context, u *db.User) (string, error) {
		return "The account " + u.Username + " was deleted.", a.accounts.Delete(c.Request.Context(), u)
	}},
}

// adminAction is POST /admin/users/ID/ACTION. In order: the account and
// the action must exist (404); an admin cannot disable, demote or delete
// themselves (403); the admin's password must be from the last 15 minutes,
// else the "confirm it's you" page asks for it and posts the action again;
// delete asks for a confirmation first. Then the action runs, is recorded
// in the admin log and the account's activity, and the account's page
// shows a notice.
func (a *App) adminAction(c *gin.Context) {
	def, ok := adminActions[c.Param("action")]
	if !ok {
		a.notFound(c)
		return
	}
	var f adminActionForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	target := a.targetUser(c)
	if target == nil {
		return
	}
	me := currentUser(c)
	if def.notOwn && target.ID == me.ID {
		a.showAdminUser(c, http.StatusForbidden, target, msgAdminSelf)
		return
	}
	if !a.passwordFresh(c) {
		if a.confirmIdentity(c, def.label, f.CurrentPassword) {
			return
		}
	}
	if c.Param("action") == "delete" && f.Confirm != "yes" {
		d := a.data(c, "Delete "+target.Username)
		d.Admin.User = adminRow(target, time.Time{})
		a.render(c, http.StatusOK, views.PageAdminDelete, d)
		return
	}
	notice, err := def.do(a, c, target)
	if v := problemsOf(err); !v.valid() {
		// A bad group name: the account's page again, the message next to
		// the field, nothing changed.
		form := v.form(map[string]string{"groups": f.Groups}, "")
		form.ID = formGroups
		a.showAdminUserForm(c, http.StatusUnprocessableEntity, target, "", form)
		return
	}
	if errors.Is(err, db.ErrNotFound) {
		a.notFound(c)
		return
	}
	if err != nil {
		a.serverError(c, err)
		return
	}
	a.recordAdminAction(c, target, def.logAs, adminDetail(c))
	a.setNotice(c, notice)
	if c.Param("action") == "delete" {
		a.redirect(c, "/admin")
		return
	}
	a.redirect(c, fmt.Sprintf("/admin/users/%d", target.ID))
}

// confirmIdentity asks a stale session for its password before an admin
// action: with no password posted it shows the "confirm it's you" page
// (403: the action was not done), with a wrong one the page again (422),
// past the per-session limit 429. The page posts the action again with
// every field it was posted with (the delete confirmation, the groups, a
// new app's details). A right password is noted, and the action goes on.
// It reports whether it answered; the caller then stops.
func (a *App) confirmIdentity(c *gin.Context, label, currentPassword string) (answered bool) {
	d := a.data(c, "Confirm it's you")
	d.Admin.Action = views.AdminAction{URL: c.Request.URL.Path, Label: label}
	names := slices.Sorted(maps.Keys(c.Request.PostForm))
	for _, name := range names {
		if name == "current_password" {
			continue
		}
		for _, v := range c.Request.PostForm[name] {
			d.Admin.Action.Fields = append(d.Admin.Action.Fields, views.HiddenField{Name: name, Value: v})
		}
	}
	if currentPassword == "" {
		var v validator
		status := http.StatusForbidden
		if c.Request.PostForm.Has("current_password") {
			v.check(false, "current_password", msgConfirmPassword)
			status = http.StatusUnprocessableEntity
		}
		d.Form = v.form(nil, "")
		d.Form.ID = "confirm"
		a.render(c, status, views.PageAdminConfirm, d)
		return true
	}
	err := a.accounts.CheckCurrentPassword(c.Request.Context(), currentUser(c), currentSession(c).ID, currentPassword)
	if err == nil {
		a.notePassword(c)
		return false
	}
	var v validator
	status, msg := http.StatusUnprocessableEntity, ""
	if errors.Is(err, account.ErrWrongPassword) {
		v.check(false, "current_password", msgConfirmWrong)
	} else {
		var answered bool
		if status, msg, answered = a.failure(c, err); answered {
			return true
		}
	}
	d.Form = v.form(nil, msg)
	d.Form.ID = "confirm"
	a.render(c, status, views.PageAdminConfirm, d)
	return true
}

// recordAdminAction writes an admin action to the admin log and to the
// account's activity. A failure to record is logged: the action is done.
func (a *App) recordAdminAction(c *gin.Context, target *db.User, what, detail string) {
	ctx := context.WithoutCancel(c.Request.Context())
	me := currentUser(c)
	deleted := c.Param("action") == "delete"
	targetID := target.ID
	if deleted {
		targetID = 0 // gone: the log keeps its name
	}
	err := a.store.AddAdminLog(ctx, db.AdminLogEntry{
		At: a.cfg.Now(), ActorID: me.ID, ActorName: me.Username,
		TargetID: targetID, TargetName: target.Username,
		Action: what, Detail: detail, IP: c.ClientIP(),
	})
	if err != nil {
		a.log.Error("admin log", "err", err)
	}
	a.log.Info("admin action", "admin_id", me.ID, "user_id", target.ID, "action", what)
	// A deleted account's activity went with it; the admin log keeps it.
	// SetGroups recorded the groups in the activity already.
	if !deleted && c.Param("action") != "groups" {
		a.accounts.Record(ctx, db.Event{
			UserID: target.ID, ActorID: me.ID, Kind: account.EventAdminAction, Detail: what,
			IP: c.ClientIP(), UserAgent: truncateUserAgent(c.Request.UserAgent()),
		})
	}
}

// formGroups is the "Set groups" form of an account's admin page.
const formGroups = "groups"

// adminDetail is what the admin log adds to an action's words: the groups
// set; nothing for the others.
func adminDetail(c *gin.Context) string {
	if c.Param("action") != "groups" {
		return ""
	}
	return account.GroupsDetail(account.SplitGroups(c.PostForm("groups")))
}
