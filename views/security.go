package views

import (
	"fmt"
	"time"
)

// Pages of product.md §13: the account's security activity and the admin
// pages.
const (
	PageActivity     = "activity"
	PageAdmin        = "admin"         // the list of accounts, searchable
	PageAdminUser    = "admin_user"    // one account, its sessions, activity and actions
	PageAdminLog     = "admin_log"     // every admin action
	PageAdminConfirm = "admin_confirm" // "confirm it's you" before an admin action
	PageAdminDelete  = "admin_delete"  // the confirmation step of deleting an account
	// The OpenID Connect clients (product.md §12) and deleting one.
	PageAdminClients      = "admin_clients"
	PageAdminClientDelete = "admin_client_delete"
)

func init() {
	Register(PageActivity, PageAdmin, PageAdminUser, PageAdminLog, PageAdminConfirm, PageAdminDelete,
		PageAdminClients, PageAdminClientDelete)
}

// EventRow is one security event as the activity pages list it.
type EventRow struct {
	At      time.Time
	What    string // "Signed in with password and code"
	Browser string // "Firefox on Linux"
	IP      string
	Admin   string // the admin who acted, for admin actions
}

// Pager links the pages of a long list; an empty link has no page there.
type Pager struct {
	Page int // 1-based
	Prev string
	Next string
}

// ActivityInfo fills the activity page.
type ActivityInfo struct {
	Events []EventRow
	Pager  Pager
}

// AdminUserRow is one account in the admin list.
type AdminUserRow struct {
	ID         int64
	Username   string
	Email      string
	Verified   bool
	TwoStep    bool // has a second factor (product.md §10)
	Groups     []string
	Admin      bool
	Disabled   bool
	CreatedAt  time.Time
	LastSignIn time.Time // zero: none in the events kept (90 days)
}

// AdminLogRow is one admin action in the admin log.
type AdminLogRow struct {
	At       time.Time
	Admin    string // who acted (username at the time)
	Action   string // what was done, in words
	Target   string // on whom (username at the time)
	TargetID int64  // 0 or an account that is gone: no link
}

// AdminInfo fills the admin pages.
type AdminInfo struct {
	Query    string         // the search (q)
	Users    []AdminUserRow // the list page
	User     AdminUserRow   // the account page
	Self     bool           // the account page shows the admin's own account
	Error    string         // why an action was refused
	Sessions []SessionRow
	Events   []EventRow
	Log      []AdminLogRow
	Pager    Pager
	// Action is the form a confirmation page posts again: its URL and its
	// fields (hidden), with "current_password" added by the page.
	Action AdminAction
	// The clients page: the apps, one just added (with its secret, shown
	// this once), and the app a delete confirmation names.
	Clients []ClientRow
	Added   *AddedClient
	Client  ClientRow
}

// ClientRow is one OpenID Connect client as the admin page lists it.
type ClientRow struct {
	ID           string
	Name         string
	RedirectURIs []string
	Public       bool
	Trusted      bool
	CreatedAt    time.Time
}

// AddedClient is an app just registered: its client_id and, for a
// confidential one, its secret ("" for a public client).
type AddedClient struct {
	ID, Name, Secret string
}

// AdminAction is an admin action's form, carried through a confirmation.
type AdminAction struct {
	URL    string
	Label  string // the button ("Disable account")
	Fields []HiddenField
}

// HiddenField is a name and value carried in a hidden input.
type HiddenField struct{ Name, Value string }

// ActionButton is one admin action's button on an account's page.
type ActionButton struct {
	URL, Label, Class string
}

// actionButton is the template function "action": the button of action
// name on account id.
func actionButton(id int64, name, label, class string) ActionButton {
	return ActionButton{URL: fmt.Sprintf("/admin/users/%d/%s", id, name), Label: label, Class: class}
}
