//go:build unix

package db_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"gatehouse/db"
)

// While a Store is open, its process holds SQLite's shared lock on the
// -shm file (the "deadman switch", byte 128), which tells every other
// process that the wal-index is in use; a process that finds it free
// truncates the file, and every process mapping it dies of SIGBUS at its
// next commit. POSIX locks belong to the process and a close of any
// descriptor of the file drops them all, so mapping the file, and closing
// a second Store on it, must not close a descriptor of it.
func TestStoreKeepsSQLitesLockOnTheSHMFile(t *testing.T) {
	if path := os.Getenv("GATEHOUSE_TEST_SHM_PROBE"); path != "" {
		fmt.Print(shmLockProbe(path))
		os.Exit(0)
	}
	// held asks another process whether this one holds the lock.
	held := func(path string) bool {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestStoreKeepsSQLitesLockOnTheSHMFile$")
		cmd.Env = append(os.Environ(), "GATEHOUSE_TEST_SHM_PROBE="+path)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("probe: %v\n%s", err, out)
		}
		switch got := strings.TrimSpace(string(out)); got {
		case "held":
			return true
		case "free":
			return false
		default:
			t.Fatalf("probe said %q", got)
			return false
		}
	}
	a, path := openTemp(t)
	if !held(path) {
		t.Fatal("the -shm file's lock is free while a Store is open")
	}
	b, err := db.Open(context.Background(), path, db.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CountUsers(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !held(path) {
		t.Fatal("the -shm file's lock is free after a second Store on the file closed")
	}
	if _, err := a.CountUsers(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// shmLockProbe reports whether another process holds a lock on byte 128
// of the database's -shm file that a write lock would conflict with.
func shmLockProbe(path string) string {
	fd, err := syscall.Open(path+"-shm", syscall.O_RDWR, 0)
	if err != nil {
		return "error: " + err.Error()
	}
	defer syscall.Close(fd)
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 128, Len: 1}
	if err := syscall.FcntlFlock(uintptr(fd), syscall.F_GETLK, &lk); err != nil {
		return "error: " + err.Error()
	}
	if lk.Type == syscall.F_UNLCK {
		return "free"
	}
	return "held"
}
