// Package secretkey holds the server's secret key: 32 random bytes in a
// file of their own (product.md §10), kept apart from the database so that
// a copy of the database alone opens nothing the key protects. Every
// instance sharing a database uses the same key file (§14).
package secretkey

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Size is the length of a key in bytes.
const Size = 32

// Key is the server's secret key.
type Key [Size]byte

// Load reads the key at path. With create, a missing file is made: 32
// random bytes, mode 0600, written beside and renamed, so a crash never
// leaves half a key. A file of another size, or one that others may read,
// is refused with a clear message.
func Load(path string, create bool) (*Key, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		return newKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("secret key %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret key %s: %w", path, err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret key %s is readable by others (mode %04o); chmod 600 it", path, info.Mode().Perm())
	}
	var k Key
	n, err := io.ReadFull(f, k[:])
	if err != nil || n != Size {
		return nil, fmt.Errorf("secret key %s is not a key (want exactly %d bytes)", path, Size)
	}
	if extra, _ := f.Read(make([]byte, 1)); extra != 0 {
		return nil, fmt.Errorf("secret key %s is not a key (want exactly %d bytes)", path, Size)
	}
	return &k, nil
}

func newKey(path string) (*Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return nil, err
	}
	// CreateTemp makes the file 0600.
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create secret key %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(k[:])
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("create secret key %s: %w", path, err)
	}
	// Link, not rename: two instances starting together must not both
	// win with different keys.
	if err := os.Link(tmp, path); err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return Load(path, false)
		}
		return nil, fmt.Errorf("create secret key %s: %w", path, err)
	}
	os.Remove(tmp)
	return &k, nil
}

// Derive returns a key for one purpose (HMAC-SHA256 of the purpose under
// the secret key), so that no two uses share key material.
func (k *Key) Derive(purpose string) []byte {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
