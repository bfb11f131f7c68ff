//go:build unix

package db

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
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
	id  fileID // the -shm file's, in shmFiles
}

// walIndexHeader is one copy of the header, as 32-bit words in the
// machine's byte order (the wal-index is in native order).
type walIndexHeader [12]uint32

const walIndexHeaderSize = int(unsafe.Sizeof(walIndexHeader{}))

// shmFiles keeps one descriptor open per -shm file this process maps,
// for as long as any Store maps it, and never closes one while a Store on
// that file is open.
//
// POSIX record locks belong to the process: closing any descriptor of a
// file drops every lock the process holds on it, SQLite's included.
// SQLite holds a shared lock on the -shm file (its "deadman switch") that
// tells other processes the wal-index is in use; the first process to
// open the database without seeing it truncates the -shm file, and every
// process that has it mapped (SQLite maps it too) then dies of SIGBUS at
// its next commit. A descriptor opened to map the file and closed at once
// did exactly that: `gatehouse backup` run beside a busy server crashed
// the server (faulttest.TestBackupUnderLoad in CI).
var shmFiles = struct {
	sync.Mutex
	m map[fileID]*shmFile
}{m: map[fileID]*shmFile{}}

type fileID struct{ dev, ino uint64 }

type shmFile struct {
	fds  []int // usually one; a file replaced between stat and open can add one
	refs int
}

// openWALIndex maps the -shm file of the database at path. A walIndex
// returned with an error is not mapped, but holds a descriptor until
// release. SQLite names
// it after the database's real path, symbolic links resolved, so a stale
// -shm file left beside a link is never the one read. It must be called
// while a connection holds the database open in WAL mode: the -shm file
// is then initialised, and no process truncates it while SQLite's lock
// on it is held (shmFiles keeps it held).
func openWALIndex(path string) (*walIndex, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, err
	}
	name := real + "-shm"
	shmFiles.Lock()
	defer shmFiles.Unlock()
	// A descriptor this process already holds is used again: opening
	// another would be harmless, but closing it never is.
	var st syscall.Stat_t
	if err := syscall.Stat(name, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	id := fileID{uint64(st.Dev), uint64(st.Ino)}
	f := shmFiles.m[id]
	if f == nil {
		fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		if err := syscall.Fstat(fd, &st); err != nil {
			// Kept open, not closed: see shmFiles.
			st = syscall.Stat_t{}
		}
		id = fileID{uint64(st.Dev), uint64(st.Ino)}
		if f = shmFiles.m[id]; f == nil {
			f = &shmFile{}
			shmFiles.m[id] = f
		}
		f.fds = append(f.fds, fd)
	}
	f.refs++
	// From here on the descriptor is the Store's to give back (release),
	// mapped or not: closing it now would drop SQLite's locks.
	w := &walIndex{id: id}
	if st.Size < int64(2*walIndexHeaderSize) {
		return w, fmt.Errorf("db: %s is %d bytes, too short for a wal-index", name, st.Size)
	}
	mem, err := syscall.Mmap(f.fds[len(f.fds)-1], 0, 2*walIndexHeaderSize, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return w, fmt.Errorf("db: map %s: %w", name, err)
	}
	w.mem = mem
	return w, nil
}

// release gives back the descriptor of the -shm file; the last Store on
// the file closes it. It must come after the Store's connections have
// closed: then no lock of this process on the file remains to be dropped,
// unless another Store on it is still open, and then it stays open.
func (w *walIndex) release() {
	shmFiles.Lock()
	defer shmFiles.Unlock()
	w.releaseLocked()
}

func (w *walIndex) releaseLocked() {
	f := shmFiles.m[w.id]
	if f == nil {
		return
	}
	if f.refs--; f.refs > 0 {
		return
	}
	delete(shmFiles.m, w.id)
	for _, fd := range f.fds {
		syscall.Close(fd)
	}
}

// mapped reports whether the header can be read.
func (w *walIndex) mapped() bool { return w.mem != nil }

// header returns the wal-index header, ok only when both copies agree
// (read in the order SQLite's readers use: first copy, then second) and
// it is initialised; not ok when unmapped. A fault in the mapping (a -shm file truncated under
// it) is not ok either, rather than a crash.
func (w *walIndex) header() (h walIndexHeader, ok bool) {
	if w.mem == nil {
		return h, false
	}
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

// unmap removes the mapping, if any; release gives back the descriptor
// later.
func (w *walIndex) unmap() error {
	if w.mem == nil {
		return nil
	}
	err := syscall.Munmap(w.mem)
	w.mem = nil
	return err
}
