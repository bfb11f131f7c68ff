//go:build unix

package db

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// walIndex is the start of the database's wal-index (the -shm file),
// mapped read-only: the same shared memory in which every connection of
// every process announces a commit. SQLite's file format (sqlite.org,
// "Database File Format", section "WAL-Index Format") puts two copies of
// a 48-byte header at its start; a commit rewrites both (the second copy,
// then the first), with a counter incremented by every transaction and
// the checksums of the last frame and of the header, so any commit
// changes the header's bytes.
//
// The session cache reads it to learn that nothing was committed since
// its last check without asking SQLite: PRAGMA data_version opens a read
// transaction, whose read-mark lock on the -shm file is two fcntl calls,
// and that check on every signed-in request was a fifth of the
// forward-auth check's CPU (docs/PERFORMANCE.md). The header is only a
// shortcut to "unchanged": any difference, a copy caught half-written or
// a header not initialised sends the cache to PRAGMA data_version as
// before.
type walIndex struct {
	mem []byte
}

// walIndexHeader is one copy of the header, as 32-bit words in the
// machine's byte order (the wal-index is in native order).
type walIndexHeader [12]uint32

const walIndexHeaderSize = int(unsafe.Sizeof(walIndexHeader{}))

// openWALIndex maps the -shm file of the database at path. SQLite names
// it after the database's real path, symbolic links resolved, so a stale
// -shm file left beside a link is never the one read. It must be called
// while a connection holds the database open in WAL mode: the -shm file
// is then initialised, and no process truncates it before every
// connection to the database has closed (close unmaps it first).
func openWALIndex(path string) (*walIndex, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(real + "-shm")
	if err != nil {
		return nil, err
	}
	defer f.Close() // the mapping outlives the descriptor
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < int64(2*walIndexHeaderSize) {
		return nil, fmt.Errorf("db: %s is %d bytes, too short for a wal-index", f.Name(), st.Size())
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, 2*walIndexHeaderSize, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("db: map %s: %w", f.Name(), err)
	}
	return &walIndex{mem: mem}, nil
}

// header returns the wal-index header, ok only when both copies agree
// (read in the order SQLite's readers use: first copy, then second) and
// it is initialised. A fault in the mapping (a -shm file truncated under
// it) is not ok either, rather than a crash.
func (w *walIndex) header() (h walIndexHeader, ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	var second walIndexHeader
	for i := range h {
		h[i] = atomic.LoadUint32((*uint32)(unsafe.Pointer(&w.mem[4*i])))
	}
	for i := range second {
		second[i] = atomic.LoadUint32((*uint32)(unsafe.Pointer(&w.mem[walIndexHeaderSize+4*i])))
	}
	// isInit is the byte at offset 12: the fourth word's first.
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], h[3])
	return h, h == second && b[0] == 1
}

func (w *walIndex) close() error { return syscall.Munmap(w.mem) }
