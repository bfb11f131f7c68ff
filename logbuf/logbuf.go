// Package logbuf batches log lines: a busy server then makes one write
// every few milliseconds instead of one per request, and a quiet one still
// shows each line at once (well within Every).
package logbuf

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Every is the longest a line waits before it is written.
const Every = 50 * time.Millisecond

// Writer buffers what is written to it and writes it out to the
// underlying writer at most Every later, or as soon as 32 KiB wait.
// Writes of whole lines stay whole. Close writes what is left.
type Writer struct {
	mu      sync.Mutex
	w       *bufio.Writer
	pending bool // a flush is scheduled
	closed  bool
}

// New returns a Writer in front of w.
func New(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 32<<10)}
}

// Write implements io.Writer. An error of the underlying writer is
// returned by a later Write or Close, as with bufio.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		n, err := b.w.Write(p)
		if err == nil {
			err = b.w.Flush()
		}
		return n, err
	}
	if b.w.Available() < len(p) {
		// Write out what waits, so the line goes whole.
		if err := b.w.Flush(); err != nil {
			return 0, err
		}
	}
	n, err := b.w.Write(p)
	if !b.pending {
		b.pending = true
		time.AfterFunc(Every, b.flush)
	}
	return n, err
}

func (b *Writer) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = false
	_ = b.w.Flush()
}

// Close writes out everything buffered; later writes go through at once.
func (b *Writer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.w.Flush()
}
