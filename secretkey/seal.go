package secretkey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
)

// ErrOpen means sealed data did not open: it was sealed under another key,
// for another purpose (aad), or changed.
var ErrOpen = errors.New("secretkey: sealed data does not open with this key")

// aead is AES-256-GCM under a key derived for sealing only, so the sealing
// key is never the HMAC key of the throttle or any other use.
func (k *Key) aead() cipher.AEAD {
	block, err := aes.NewCipher(k.Derive("seal"))
	if err != nil {
		panic(err) // a 32-byte key is always a valid AES-256 key
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return g
}

// Seal encrypts plaintext with AES-256-GCM (product.md §10): a random
// 96-bit nonce, then the ciphertext and tag. aad binds the sealed value to
// where it belongs (say "totp:42" for account 42's authenticator secret),
// so a sealed value copied to another row does not open there.
func (k *Key) Seal(plaintext, aad []byte) ([]byte, error) {
	g := k.aead()
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(plaintext)+g.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return g.Seal(nonce, nonce, plaintext, aad), nil
}

// Open decrypts what Seal made with the same aad, or returns ErrOpen.
func (k *Key) Open(sealed, aad []byte) ([]byte, error) {
	g := k.aead()
	if len(sealed) < g.NonceSize()+g.Overhead() {
		return nil, ErrOpen
	}
	out, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}
