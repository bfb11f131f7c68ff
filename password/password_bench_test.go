package password

import (
	"context"
	"runtime"
	"testing"
)

// BenchmarkHashOWASP is one argon2id hash with the production parameters.
func BenchmarkHashOWASP(b *testing.B) {
	h := NewHasher(OWASP, 1)
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "a long bench passphrase 42"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyOWASP is one sign-in's worth of password checking.
func BenchmarkVerifyOWASP(b *testing.B) {
	h := NewHasher(OWASP, 1)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "a long bench passphrase 42")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, "a long bench passphrase 42", enc); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkVerifyParallel verifies from many goroutines through a hasher
// bounded to one hash per CPU, as the server runs it: its ns/op against
// BenchmarkVerifyOWASP/NumCPU shows the cost of the bound.
func BenchmarkVerifyParallel(b *testing.B) {
	h := NewHasher(OWASP, runtime.NumCPU())
	ctx := context.Background()
	enc, err := h.Hash(ctx, "a long bench passphrase 42")
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, err := h.Verify(ctx, "a long bench passphrase 42", enc); !ok || err != nil {
				b.Error(ok, err)
				return
			}
		}
	})
}
