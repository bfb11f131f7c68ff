package handlers

import "gatehouse/db"

// Until the foundation's fields land.
func userDisabled(*db.User) bool          { return false }
func userGroups(*db.User) []string        { return nil }
func sessionSecondFactor(db.Session) bool { return false }
