package main

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The idle-memory step drops the server binary from the page cache before
// each start; this checks that a file just written (so in the cache, and
// dirty) really leaves it.
func TestDropPageCache(t *testing.T) {
	dir := t.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC {
		t.Skip("the temporary directory is on tmpfs, whose pages are the file itself and cannot be dropped")
	}
	path := filepath.Join(dir, "binary")
	if err := os.WriteFile(path, make([]byte, 4<<20), 0o755); err != nil {
		t.Fatal(err)
	}
	left, err := dropPageCache(path)
	if err != nil {
		t.Fatal(err)
	}
	if left > 0.05 {
		t.Errorf("%.0f%% of the file still cached after dropping it", 100*left)
	}
}
