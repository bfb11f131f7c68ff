package apptest

import (
	"net"
	"testing"
)

// newListener listens on a free loopback port.
func newListener(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return ln
}
