package oidcop

import "gatehouse/db"

// groupsOf is the account's groups.
func groupsOf(u *db.User) []string { return u.Groups }
