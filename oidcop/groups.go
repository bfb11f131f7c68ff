package oidcop

import "gatehouse/db"

// groupsOf is the account's groups (until the foundation lands: none).
func groupsOf(*db.User) []string { return nil }
