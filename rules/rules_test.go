package rules

import (
	"strings"
	"testing"
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
