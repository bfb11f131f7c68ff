package secretkey_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gatehouse/secretkey"
)

// product.md §10: at the first start the key file is created, 32 random
// bytes, mode 0600; later starts read the same key.
func TestCreatedOnceMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db.key")
	if _, err := secretkey.Load(path, false); err == nil {
		t.Fatal("a missing key loaded without create")
	}
	k1, err := secretkey.Load(path, true)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 || info.Size() != secretkey.Size {
		t.Fatalf("key file %v %v", info, err)
	}
	k2, err := secretkey.Load(path, true)
	if err != nil || *k1 != *k2 {
		t.Fatalf("second load: %v, same key %v", err, err == nil && *k1 == *k2)
	}
	if bytes.Equal(k1.Derive("a"), k1.Derive("b")) {
		t.Error("two purposes share derived key material")
	}
}

// Instances starting together on one key file end up with one key.
func TestConcurrentCreateAgrees(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.key")
	keys := make([]*secretkey.Key, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := secretkey.Load(path, true)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k == nil || *k != *keys[0] {
			t.Fatal("instances created different keys")
		}
	}
	if m, _ := filepath.Glob(path + ".*.tmp"); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

// A file of the wrong size, or readable by others, is refused with a line
// that says why.
func TestBadKeyFilesRefused(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("short"), 0o600)
	if _, err := secretkey.Load(short, true); err == nil || !strings.Contains(err.Error(), "want exactly 32 bytes") {
		t.Errorf("short key: %v", err)
	}
	long := filepath.Join(dir, "long.key")
	os.WriteFile(long, bytes.Repeat([]byte{1}, 33), 0o600)
	if _, err := secretkey.Load(long, true); err == nil || !strings.Contains(err.Error(), "want exactly 32 bytes") {
		t.Errorf("long key: %v", err)
	}
	open := filepath.Join(dir, "open.key")
	os.WriteFile(open, bytes.Repeat([]byte{1}, 32), 0o644)
	os.Chmod(open, 0o644)
	if _, err := secretkey.Load(open, true); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: %v", err)
	}
}
