package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Idle memory, and why the binary's pages are dropped from the page cache
// before each measured start.
//
// VmRSS counts the pages of the binary that are mapped into the server,
// and on this kernel (ext4 with large folios) a file that was just written
// sits in the page cache in folios of up to 2 MiB, each mapped whole at the
// first touch of any byte in it. The binary that go build has just written
// was therefore counted almost entirely (35 of 37 MiB of text and
// read-only data at the time of writing), while the same binary read
// back from disk, as at the first start after a boot or on a
// machine where the cache was reclaimed, was counted for the pages the
// server touches (and the kernel's fault-around): 19 MiB. The figure then
// depends on how the file got into the cache, not on Gatehouse. So each
// idle-memory start first drops the binary's pages from the page cache
// (posix_fadvise DONTNEED, which touches nothing but this file) and
// checks they are gone; the note gives the private (anonymous) part
// beside the file part, and the timed cold starts, whose binary is in the
// cache as go build left it, are reported too.

// memBreakdown is a process's resident memory, in KiB.
type memBreakdown struct {
	RSS, Anon, File int64
}

func readMem(pid int) (memBreakdown, error) {
	var m memBreakdown
	var err error
	if m.RSS, err = memKiB(pid, "VmRSS"); err != nil {
		return m, err
	}
	if m.Anon, err = memKiB(pid, "RssAnon"); err != nil {
		return m, err
	}
	m.File, err = memKiB(pid, "RssFile")
	return m, err
}

// dropPageCache asks the kernel to drop path's clean pages from the page
// cache and returns the share of the file still cached afterwards (pages
// mapped by a running process stay).
func dropPageCache(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// Pages not yet written back (go build has just written the file)
	// are not dropped: write them first.
	if err := f.Sync(); err != nil {
		return 0, err
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return 0, fmt.Errorf("fadvise %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return 0, err
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 0, err
	}
	defer unix.Munmap(mem)
	page := os.Getpagesize()
	vec := make([]byte, (len(mem)+page-1)/page)
	// x/sys/unix has no wrapper for mincore(2).
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		return 0, fmt.Errorf("mincore %s: %w", path, e)
	}
	cached := 0
	for _, v := range vec {
		cached += int(v & 1)
	}
	return float64(cached) / float64(len(vec)), nil
}

// idleMemory starts Gatehouse n times on a new database, each time from a
// binary just dropped from the page cache, and reads its memory one second
// after the first answer.
func (b *bench) idleMemory(ctx context.Context, n int) ([]memBreakdown, error) {
	var out []memBreakdown
	for i := range n {
		left, err := dropPageCache(b.bin)
		if err != nil {
			return nil, err
		}
		if left > 0.05 {
			return nil, fmt.Errorf("%.0f%% of the server binary stayed in the page cache after dropping it (another process maps it?)", 100*left)
		}
		dbArg, err := b.newDB(fmt.Sprintf("idle%d", i))
		if err != nil {
			return nil, err
		}
		p, err := b.start(fmt.Sprintf("idle%d", i), b.serveArgs(dbArg), "/healthz")
		if err != nil {
			return nil, err
		}
		waitCtx(ctx, time.Second)
		m, err := readMem(p.pid())
		b.stop(p)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b memBreakdown) int { return int(a.RSS - b.RSS) })
	return out, nil
}
