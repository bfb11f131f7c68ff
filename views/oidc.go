package views

import "time"

// AppInfo fills the consent page (an app asks to sign the account in) and
// the page that sends the browser back to the app.
type AppInfo struct {
	Name      string
	RequestID string   // the authorization request, carried in a hidden field
	Sees      []string // what the app will see, in words
	Host      string   // where the browser goes back to
	ReturnURL string   // the app's redirect URI with the code (continue page)
}

// AppRow is one allowed app on the apps page.
type AppRow struct {
	ClientID string
	Name     string
	Since    time.Time
	Sees     []string
}
