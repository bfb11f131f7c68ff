package handlers_test

import (
	"strings"
	"testing"

	"gatehouse/internal/apptest"
)

// eventKinds lists, oldest first, the security activity of the account
// named user whose kind is one of kinds (product.md §13), as the
// database holds it.
func eventKinds(t *testing.T, srv *apptest.Server, user string, kinds ...string) []string {
	t.Helper()
	args := []any{user}
	marks := make([]string, len(kinds))
	for i, k := range kinds {
		marks[i] = "?"
		args = append(args, k)
	}
	return queryStrings(t, srv.RawDB(t), `SELECT e.kind FROM security_events e JOIN users u ON u.id = e.user_id
		WHERE u.username = ? AND e.kind IN (`+strings.Join(marks, ", ")+`) ORDER BY e.id`, args...)
}
