package secretkey_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/db"
	"gatehouse/secretkey"
)

func TestSealOpen(t *testing.T) {
	dir := t.TempDir()
	k, err := secretkey.Load(filepath.Join(dir, "a.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	other, err := secretkey.Load(filepath.Join(dir, "b.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("JBSWY3DPEHPK3PXP")
	sealed, err := k.Seal(secret, []byte("totp:1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed value contains the plaintext")
	}
	again, _ := k.Seal(secret, []byte("totp:1"))
	if bytes.Equal(sealed, again) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	if got, err := k.Open(sealed, []byte("totp:1")); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	for name, open := range map[string]func() ([]byte, error){
		"other key":   func() ([]byte, error) { return other.Open(sealed, []byte("totp:1")) },
		"other aad":   func() ([]byte, error) { return k.Open(sealed, []byte("totp:2")) },
		"changed":     func() ([]byte, error) { b := bytes.Clone(sealed); b[len(b)-1] ^= 1; return k.Open(b, []byte("totp:1")) },
		"too short":   func() ([]byte, error) { return k.Open(sealed[:10], []byte("totp:1")) },
		"empty input": func() ([]byte, error) { return k.Open(nil, nil) },
	} {
		if _, err := open(); !errors.Is(err, secretkey.ErrOpen) {
			t.Errorf("%s: err = %v, want ErrOpen", name, err)
		}
	}
}

// TestLoadFor: a new database makes the key and records its check; the
// same key opens it again; a missing or different key file is refused
// with one line, and nothing is created in its place.
func TestLoadFor(t *testing.T) {
	dir := t.TempDir()
	store, err := db.Open(t.Context(), filepath.Join(dir, "auth.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	keyPath := filepath.Join(dir, "auth.db.key")
	if _, err := secretkey.LoadFor(t.Context(), store, keyPath); err != nil {
		t.Fatalf("first start: %v", err)
	}
	if info, err := os.Stat(keyPath); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", info, err)
	}
	if _, err := secretkey.LoadFor(t.Context(), store, keyPath); err != nil {
		t.Fatalf("second start with the same key: %v", err)
	}

	missing := filepath.Join(dir, "gone.key")
	_, err = secretkey.LoadFor(t.Context(), store, missing)
	if err == nil || !strings.Contains(err.Error(), "is missing") || strings.Contains(err.Error(), "\n") {
		t.Errorf("missing key: err = %v, want one line saying it is missing", err)
	}
	if _, serr := os.Stat(missing); serr == nil {
		t.Error("a missing key file was created for a database that had one")
	}

	wrong := filepath.Join(dir, "wrong.key")
	if _, err := secretkey.Load(wrong, true); err != nil {
		t.Fatal(err)
	}
	_, err = secretkey.LoadFor(t.Context(), store, wrong)
	if err == nil || !strings.Contains(err.Error(), "not the key this database was used with") {
		t.Errorf("wrong key: err = %v", err)
	}
}
