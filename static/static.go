// Package static embeds the stylesheet, our small script and the pinned
// htmx, and names each by a hash of its content so browsers may cache it for
// ever.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

//go:embed *.css *.js *.svg
var Files embed.FS

// versions maps a file name to a short hash of its content.
var versions = func() map[string]string {
	m := map[string]string{}
	entries, _ := fs.ReadDir(Files, ".")
	for _, e := range entries {
		b, err := Files.ReadFile(e.Name())
		if err != nil {
			continue
		}
		sum := sha256.Sum256(b)
		m[e.Name()] = hex.EncodeToString(sum[:6])
	}
	return m
}()

// URL returns the path of a static file with its content hash as a query,
// so a new release busts the cache.
func URL(name string) string {
	if v, ok := versions[name]; ok {
		return "/static/" + name + "?v=" + v
	}
	return "/static/" + name
}
