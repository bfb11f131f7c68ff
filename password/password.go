// Package password hashes and checks passwords with argon2id, and knows the
// passwords that are too common to allow.
package password

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// OWASP is the OWASP Password Storage Cheat Sheet minimum for argon2id:
// 19 MiB, 2 passes, 1 thread.
var OWASP = Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// ErrMalformedHash means a stored hash is not an argon2id PHC string.
var ErrMalformedHash = errors.New("password: malformed argon2id hash")

// Hasher hashes and verifies passwords. It bounds how many hashes run at
// once: each one holds Params.Memory of RAM, so a flood of sign-ins queues
// here instead of exhausting memory.
type Hasher struct {
	params  Params
	slots   chan struct{}
	dummy   string
	waiting atomic.Int64 // callers in acquire
}

// NewHasher returns a Hasher with the given parameters that runs at most
// concurrency hashes at a time.
func NewHasher(p Params, concurrency int) *Hasher {
	if concurrency < 1 {
		concurrency = 1
	}
	h := &Hasher{params: p, slots: make(chan struct{}, concurrency)}
	// A hash with the current parameters that no password matches:
	// verifying against it for unknown users costs the same time as a
	// wrong password, so timing does not tell whether an account exists.
	// Random bytes stand in for the key; computing a real one would only
	// slow the start.
	h.dummy = encode(p, mustRandom(p.SaltLen), mustRandom(p.KeyLen))
	return h
}

// Params returns the parameters new hashes use.
func (h *Hasher) Params() Params { return h.params }

// acquire waits for a hashing slot, or gives up when ctx ends (the client
// went away while queued).
func (h *Hasher) acquire(ctx context.Context) error {
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Waiting reports how many callers are waiting for a slot at this moment.
func (h *Hasher) Waiting() int { return int(h.waiting.Load()) }

func (h *Hasher) release() {
	<-h.slots
}

// Slot is one held hashing slot. A caller that must decide something
// between getting the slot and hashing (the sign-in throttle, which has
// to count a failure before the next guess at the same account is let
// through) holds it across those steps; everyone else uses Hash and
// Verify, which take and give back a slot themselves.
type Slot struct {
	h    *Hasher
	done bool
}

// Acquire waits for a hashing slot. The caller must Release it.
func (h *Hasher) Acquire(ctx context.Context) (*Slot, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	return &Slot{h: h}, nil
}

// Release gives the slot back; a second call does nothing.
func (s *Slot) Release() {
	if !s.done {
		s.done = true
		s.h.release()
	}
}

// Hash returns the argon2id PHC string of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	s, err := h.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer s.Release()
	return s.Hash(password)
}

// Hash is Hasher.Hash in a slot already held.
func (s *Slot) Hash(password string) (string, error) {
	p := s.h.params
	salt, err := random(p.SaltLen)
	if err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encode(p, salt, key), nil
}

// Verify reports whether password matches the PHC string encoded, in
// constant time, and whether the hash should be replaced because it was
// made with other parameters than the current ones.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	if _, _, _, err := decode(encoded); err != nil {
		return false, false, err
	}
	s, err := h.Acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer s.Release()
	return s.Verify(password, encoded)
}

// Verify is Hasher.Verify in a slot already held.
func (s *Slot) Verify(password, encoded string) (ok, rehash bool, err error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	cur := s.h.params
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	rehash = p.Memory != cur.Memory || p.Time != cur.Time || p.Threads != cur.Threads ||
		uint32(len(key)) != cur.KeyLen || uint32(len(salt)) != cur.SaltLen
	return ok, rehash, nil
}

// VerifyDummy spends the time of a real verification and always fails. Use
// it when no account matches, so that answer takes as long as a wrong
// password.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

// VerifyDummy is Hasher.VerifyDummy in a slot already held.
func (s *Slot) VerifyDummy(password string) {
	_, _, _ = s.Verify(password, s.h.dummy)
}

// encode writes the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> with unpadded base64.
func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func decode(s string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, ErrMalformedHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, ErrMalformedHash
	}
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 {
		return p, nil, nil, ErrMalformedHash
	}
	if salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(salt) == 0 {
		return p, nil, nil, ErrMalformedHash
	}
	if key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(key) == 0 {
		return p, nil, nil, ErrMalformedHash
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

func random(n uint32) ([]byte, error) {
	b := make([]byte, n)
	_, err := rand.Read(b)
	return b, err
}

func mustRandom(n uint32) []byte {
	b, err := random(n)
	if err != nil {
		panic(err)
	}
	return b
}

//go:embed common-passwords.txt
var commonList string

// common holds the 10,000 most common passwords, lowercased; see
// COMMON-PASSWORDS.md for the source. It is built at the first password
// check, not at start: the set takes about half a MiB of heap, and a server
// that only serves signed-in pages never needs it (docs/PERFORMANCE.md,
// idle memory).
var common = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 10000)
	sc := bufio.NewScanner(strings.NewReader(commonList))
	for sc.Scan() {
		if w := sc.Text(); w != "" {
			m[w] = struct{}{}
		}
	}
	return m
})

// IsCommon reports whether password, ignoring case, is one of the 10,000
// most common passwords.
func IsCommon(password string) bool {
	_, ok := common()[strings.ToLower(password)]
	return ok
}
