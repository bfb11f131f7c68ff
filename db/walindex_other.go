//go:build !unix

package db

import "errors"

// walIndex is not mapped on this system: the session cache asks SQLite
// (PRAGMA data_version) at every look-up.
type walIndex struct{}

type walIndexHeader [12]uint32

func openWALIndex(string) (*walIndex, error) {
	return nil, errors.New("db: the wal-index is not mapped on this system")
}

func (*walIndex) mapped() bool                   { return false }
func (*walIndex) header() (walIndexHeader, bool) { return walIndexHeader{}, false }
func (*walIndex) unmap() error                   { return nil }
func (*walIndex) release()                       {}
