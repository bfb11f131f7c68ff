package password

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashIsPHCAndVerifies(t *testing.T) {
	h := NewHasher(cheap, 2)
	ctx := context.Background()
	hash, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(hash) {
		t.Fatalf("hash %q is not an argon2id PHC string", hash)
	}
	again, _ := h.Hash(ctx, "correct horse battery")
	if again == hash {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	ok, rehash, err := h.Verify(ctx, "correct horse battery", hash)
	if !ok || rehash || err != nil {
		t.Fatalf("Verify(right) = %v, %v, %v", ok, rehash, err)
	}
	ok, _, err = h.Verify(ctx, "correct horse batterY", hash)
	if ok || err != nil {
		t.Fatalf("Verify(wrong) = %v, %v", ok, err)
	}
}

func TestDefaultsAreOWASP(t *testing.T) {
	h := NewHasher(OWASP, 1)
	hash, err := h.Hash(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("default hash %q", hash)
	}
}

func TestOlderParametersAskForRehash(t *testing.T) {
	old := NewHasher(Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	hash, _ := old.Hash(context.Background(), "pw-pw-pw-pw")
	ok, rehash, err := NewHasher(cheap, 1).Verify(context.Background(), "pw-pw-pw-pw", hash)
	if !ok || !rehash || err != nil {
		t.Fatalf("Verify(old params) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
}

func TestMalformedHashes(t *testing.T) {
	h := NewHasher(cheap, 1)
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaA", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$"} {
		if ok, _, err := h.Verify(context.Background(), "x", bad); ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

func TestVerifyDummyRunsAndFails(t *testing.T) {
	h := NewHasher(cheap, 1)
	if err := h.VerifyDummy(context.Background(), "anything"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h.dummy, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("dummy hash %q does not use the current parameters", h.dummy)
	}
}

// A queued hash gives up when its request is cancelled.
func TestHashingIsBounded(t *testing.T) {
	h := NewHasher(cheap, 1)
	h.slots <- struct{}{} // the only slot is busy
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "x"); err == nil {
		t.Fatal("Hash ran without a free slot")
	}
	<-h.slots
	if _, err := h.Hash(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
}

func TestCommonPasswords(t *testing.T) {
	if n := len(common()); n != 10000 {
		t.Fatalf("list has %d entries, want 10000", n)
	}
	for _, pw := range []string{"password", "PASSWORD", "12345678", "qwerty123", "iloveyou"} {
		if !IsCommon(pw) {
			t.Errorf("IsCommon(%q) = false", pw)
		}
	}
	for _, pw := range []string{"correct horse battery", "gatehouse-is-nice-9"} {
		if IsCommon(pw) {
			t.Errorf("IsCommon(%q) = true", pw)
		}
	}
}
