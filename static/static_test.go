package static

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// htmx is vendored unmodified from the npm package htmx.org@2.0.11
// (see VENDOR.md); this is the SHA-256 of its dist/htmx.min.js.
const htmxSHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"

func TestHTMXChecksum(t *testing.T) {
	b, err := Files.ReadFile("htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != htmxSHA256 {
		t.Fatalf("static/htmx.min.js SHA-256 = %s, want %s (htmx.org@2.0.11, unmodified)", got, htmxSHA256)
	}
	if !strings.Contains(string(b), `version:"2.0.11"`) {
		t.Fatal("htmx.min.js is not version 2.0.11")
	}
}

func TestURLCarriesContentHash(t *testing.T) {
	u := URL("app.css")
	if !strings.HasPrefix(u, "/static/app.css?v=") || len(u) != len("/static/app.css?v=")+12 {
		t.Fatalf("URL(app.css) = %q", u)
	}
	if URL("missing.css") != "/static/missing.css" {
		t.Fatal("unknown files get no version")
	}
}
