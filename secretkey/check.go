package secretkey

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"gatehouse/db"
)

// Settings is where the key check is kept: the database's settings table
// (*db.Store and *postgres.Store).
type Settings interface {
	Setting(ctx context.Context, name string) ([]byte, error)
	PutSettingIfAbsent(ctx context.Context, name string, value []byte) ([]byte, error)
}

// checkName is the setting that holds a value sealed under the key when
// the database was first used with it.
const checkName = "secret_key_check"

var checkText = []byte("gatehouse secret key check")

// LoadFor reads the key at path for the database behind s, making it when
// both are new. A database that was used with a key holds a value sealed
// under it (its second factors and signing keys are sealed the same way),
// so a missing or different key file is refused instead of starting with
// secrets that cannot be opened (product.md §10).
func LoadFor(ctx context.Context, s Settings, path string) (*Key, error) {
	check, err := s.Setting(ctx, checkName)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return nil, err
	}
	if check != nil {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("secret key %s is missing, and the database holds data sealed under it: restore the key file from your backup (README, \"Backup and restore\")", path)
		}
	}
	k, err := Load(path, check == nil)
	if err != nil {
		return nil, err
	}
	if check == nil {
		sealed, err := k.Seal(checkText, []byte(checkName))
		if err != nil {
			return nil, err
		}
		// Another instance may have stored its check first: ours must then
		// open the one stored.
		if check, err = s.PutSettingIfAbsent(ctx, checkName, sealed); err != nil {
			return nil, err
		}
	}
	if _, err := k.Open(check, []byte(checkName)); err != nil {
		return nil, fmt.Errorf("secret key %s is not the key this database was used with: start with the key file that belongs to it", path)
	}
	return k, nil
}
