package oidcop_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/db"
	"gatehouse/oidcop"
)

// A client_id never starts with "-" (it is an argument of `gatehouse
// client delete`, where it would read as a flag), and is unique.
func TestClientIDsAreSafeArguments(t *testing.T) {
	store, err := db.Open(t.Context(), filepath.Join(t.TempDir(), "auth.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	seen := map[string]bool{}
	for range 100 {
		c, _, err := oidcop.AddClient(t.Context(), store, oidcop.NewClient{Name: "App", RedirectURIs: []string{"https://app.example.com/cb"}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(c.ID, "-") || strings.Trim(c.ID, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" || seen[c.ID] {
			t.Fatalf("client_id %q", c.ID)
		}
		seen[c.ID] = true
	}
}
