package redis_test

import (
	"strings"
	"testing"
	"time"

	"gatehouse/internal/storetest"
)

// product.md §14: with Redis, the authenticator's replay guard and the
// WebAuthn challenges live there, with the SQL stores' behaviour, under
// hashed keys that expire.
func TestOneTimeStore(t *testing.T) {
	_, c, raw := start(t)
	storetest.RunOneTime(t, c.OneTimeStore())
	keys, err := raw.Keys(t.Context(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, "totp-used") || strings.Contains(k, "challenge") {
			t.Errorf("key %q holds its name in clear", k)
		}
		if ttl := raw.TTL(t.Context(), k).Val(); ttl <= 0 || ttl > time.Minute {
			t.Errorf("key %q expires in %v, want within a minute", k, ttl)
		}
	}
}
