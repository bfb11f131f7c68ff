package rules

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestRules(t *testing.T) {
	for _, tc := range []struct {
		name, got, want string
	}{
		{"normalise username", NormalizeUsername("  Alice_1 "), "alice_1"},
		{"normalise email", NormalizeEmail(" Alice@Example.COM "), "alice@example.com"},
		{"username ok", UsernameError("bob-2_x"), ""},
		{"username empty", UsernameError(""), MsgUsernameRequired},
		{"username short", UsernameError("ab"), MsgUsernameLength},
		{"username long", UsernameError(strings.Repeat("a", 32)), MsgUsernameLength},
		{"username 31", UsernameError(strings.Repeat("a", 31)), ""},
		{"username chars", UsernameError("al ice"), MsgUsernameChars},
		{"username non-ascii", UsernameError("jürgen"), MsgUsernameChars},
		{"username invalid utf-8", UsernameError("ab\xffc"), MsgUsernameChars},
		{"email ok", EmailError("a@example.com"), ""},
		{"email empty", EmailError(""), MsgEmailRequired},
		{"email display name", EmailError("Alice <a@example.com>"), MsgEmailFormat},
		{"email no domain", EmailError("a@"), MsgEmailFormat},
		{"email long", EmailError(strings.Repeat("a", 250) + "@x.io"), MsgEmailLength},
		{"password ok", PasswordError("tangerine submarine", "alice", "a@example.com"), ""},
		{"password empty", PasswordError("", "alice", ""), MsgPasswordRequired},
		{"password short", PasswordError("1234567", "alice", ""), MsgPasswordShort},
		{"password 8 runes", PasswordError("ääääääää", "alice", ""), ""},
		{"password long", PasswordError(strings.Repeat("x", 257), "alice", ""), MsgPasswordLong},
		{"password is username", PasswordError("Alicealice", "alicealice", ""), MsgPasswordSame},
		{"password is email", PasswordError("A@EXAMPLE.COM", "alice", "a@example.com"), MsgPasswordSame},
		{"password common", PasswordError("password123", "alice", ""), MsgPasswordCommon},
		{"password NUL", PasswordError("abcdefgh\x00", "alice", ""), MsgPasswordChars},
		{"confirm empty", ConfirmError("x", ""), MsgConfirmRequired},
		{"confirm mismatch", ConfirmError("x", "y"), MsgConfirmMismatch},
		{"confirm ok", ConfirmError("x", "x"), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

// product.md §4: "an internationalised domain is stored in its ASCII
// (punycode) form, so one mailbox cannot hold two accounts".
func TestSpec4EmailIDNStoredAsPunycode(t *testing.T) {
	for _, in := range []string{
		"idn@exämple.com",
		"idn@xn--exmple-cua.com",
		" IDN@EXÄMPLE.COM ",
		"idn@XN--EXMPLE-CUA.COM",
		"idn@ｅｘäｍｐｌｅ.com", // full-width letters are the same domain
	} {
		e := NormalizeEmail(in)
		if e != "idn@xn--exmple-cua.com" {
			t.Errorf("NormalizeEmail(%q) = %q, want idn@xn--exmple-cua.com", in, e)
		}
		if msg := EmailError(e); msg != "" {
			t.Errorf("EmailError(%q) = %q, want accepted", e, msg)
		}
	}
	// The local part stays as typed, lowercased.
	if e := NormalizeEmail("José@Bücher.de"); e != "josé@xn--bcher-kva.de" {
		t.Errorf("NormalizeEmail(José@Bücher.de) = %q", e)
	}
	// A domain that is not a valid IDN is left as typed and refused.
	for _, in := range []string{"x@xn--zz.com", "x@exa_mple.com", "x@-example.com", "x@exämple-.com"} {
		e := NormalizeEmail(in)
		if NormalizeEmail(e) != e {
			t.Errorf("NormalizeEmail(%q) is not idempotent", in)
		}
		if msg := EmailError(e); msg != MsgEmailDomain {
			t.Errorf("EmailError(%q) = %q, want %q", e, msg, MsgEmailDomain)
		}
	}
	// EmailError wants the stored form: a Unicode domain was not normalised.
	if msg := EmailError("idn@exämple.com"); msg != MsgEmailDomain {
		t.Errorf("EmailError of a Unicode domain = %q, want %q", msg, MsgEmailDomain)
	}
}

// product.md §4: "Control, format (bidi) and other invisible characters and
// address literals (x@[127.0.0.1]) are refused".
func TestSpec4EmailRefusesInvisibleAndLiterals(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"x@[127.0.0.1]", MsgEmailLiteral},
		{"x@[IPv6:::1]", MsgEmailLiteral},
		{"x@[ipv6:::1]", MsgEmailLiteral},
		{"x@127.0.0.1", MsgEmailLiteral},
		{"a\x01b@example.com", MsgEmailInvisible},         // C0 control
		{"a\x7fb@example.com", MsgEmailInvisible},         // DEL
		{"ab@exam\u009bple.com", MsgEmailInvisible},       // C1 control (CSI)
		{"a\u0085b@example.com", MsgEmailInvisible},       // C1 NEL inside
		{"a\u202eb@example.com", MsgEmailInvisible},       // right-to-left override
		{"ab@exa\u202emple.com", MsgEmailInvisible},       // ... in the domain
		{"a\u200bb@example.com", MsgEmailInvisible},       // zero-width space
		{"ab@exam\u200bple.com", MsgEmailInvisible},       // ... which IDNA would drop
		{"a\u200eb@example.com", MsgEmailInvisible},       // left-to-right mark
		{"a\u2066b\u2069@example.com", MsgEmailInvisible}, // isolates
		{"\ufeffab@example.com", MsgEmailInvisible},       // byte order mark
		{"a\u00adb@example.com", MsgEmailInvisible},       // soft hyphen
		{"ab@exa\u00admple.com", MsgEmailInvisible},       // ... which IDNA would drop
		{"a\u2060b@example.com", MsgEmailInvisible},       // word joiner
		{"a\u3164b@example.com", MsgEmailInvisible},       // Hangul filler
		{"a\ufe0fb@example.com", MsgEmailInvisible},       // variation selector
		{"a\u00a0b@example.com", MsgEmailInvisible},       // no-break space
		{"a\u2028b@example.com", MsgEmailInvisible},       // line separator
		{"a\ue000b@example.com", MsgEmailInvisible},       // private use
		{"a\U000e0041b@example.com", MsgEmailInvisible},   // tag character
		{"a b@example.com", MsgEmailFormat},
		{"josé@example.com", ""},
	} {
		e := NormalizeEmail(tc.in)
		if got := EmailError(e); got != tc.want {
			t.Errorf("EmailError(NormalizeEmail(%q)) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzEmail checks the §4 address rules on any input: normalising is
// idempotent, and an accepted address is one plain address with an ASCII
// domain and nothing invisible in it.
func FuzzEmail(f *testing.F) {
	for _, s := range []string{"a@example.com", " A@Example.COM ", "idn@exämple.com", "idn@xn--exmple-cua.com",
		"x@[127.0.0.1]", "x@[IPv6:::1]", "a\u202eb@example.com", "ab@exa\u200bmple.com", "a\u009bb@example.com",
		"\ufeffa@example.com", "a@exa\u00admple.com", "a@xn--zz.com", "a@ｅｘａｍｐｌｅ.com", "a@exa_mple.com",
		"josé@bücher.de", "a@b@c", "a@", "m\xc3@example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := NormalizeEmail(s)
		if NormalizeEmail(e) != e {
			t.Fatalf("normalising %q is not idempotent: %q", s, e)
		}
		if EmailError(e) != "" {
			return
		}
		domain := e[strings.LastIndexByte(e, '@')+1:]
		for _, r := range domain {
			if r >= utf8.RuneSelf || r == '[' {
				t.Fatalf("accepted %q: domain not in ASCII form", e)
			}
		}
		for _, r := range e {
			if !unicode.IsGraphic(r) || unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point) {
				t.Fatalf("accepted %q with %U", e, r)
			}
		}
	})
}
