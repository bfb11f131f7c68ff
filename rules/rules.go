// Package rules holds the account rules of product.md §4 — how usernames
// and addresses are normalised and what makes a username, an address or a
// password acceptable — with their user-facing messages. The web forms and
// the admin commands both use it, so a rule cannot differ between them.
package rules

import (
	"net/mail"
	"strings"
	"unicode/utf8"

	"gatehouse/password"
)

// Messages, shared by the form submits, the inline checks and the admin
// commands.
const (
	MsgUsernameRequired = "Enter a username."
	MsgUsernameLength   = "Username must be 3 to 31 characters long."
	MsgUsernameChars    = "Username can only use letters a–z, digits 0–9, _ and -."
	MsgUsernameTaken    = "That username is taken. Try another."
	MsgEmailRequired    = "Enter your email address."
	MsgEmailFormat      = "Enter an email address like name@example.com."
	MsgEmailLength      = "Email address must be at most 254 characters."
	MsgEmailTaken       = "An account already uses that email address. Sign in instead?"
	MsgPasswordRequired = "Enter a password."
	MsgPasswordShort    = "Password must be at least 8 characters."
	MsgPasswordLong     = "Password must be at most 256 characters."
	MsgPasswordChars    = "Password contains characters that cannot be used."
	MsgPasswordSame     = "Password must not be your username or email address."
	MsgPasswordCommon   = "That password is one of the most common ones. Choose another."
	MsgConfirmRequired  = "Enter your password again."
	MsgConfirmMismatch  = "Passwords do not match."
)

// NormalizeUsername trims and lowercases a username (product.md §4).
func NormalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// NormalizeEmail trims an address and lowercases it, as it is stored.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// UsernameError checks a normalised username; "" when it is valid.
func UsernameError(u string) string {
	if u == "" {
		return MsgUsernameRequired
	}
	// Invalid UTF-8 ranges as U+FFFD, which fails this check too.
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return MsgUsernameChars
		}
	}
	// Only ASCII is left, so bytes are characters.
	if len(u) < 3 || len(u) > 31 {
		return MsgUsernameLength
	}
	return ""
}

// EmailError checks a normalised address: one plain name@domain, no
// display name, at most 254 characters.
func EmailError(e string) string {
	switch {
	case e == "":
		return MsgEmailRequired
	case len(e) > 254:
		return MsgEmailLength
	// U+FFFD is what lowercasing makes of invalid UTF-8: no real address
	// has it.
	case !utf8.ValidString(e) || strings.ContainsAny(e, " \t\r\n<>,;\"\x00\uFFFD"):
		return MsgEmailFormat
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Name != "" || addr.Address != e {
		return MsgEmailFormat
	}
	at := strings.LastIndexByte(e, '@')
	if at < 1 || at == len(e)-1 {
		return MsgEmailFormat
	}
	return ""
}

// PasswordError checks a new password against product.md §4: 8–256
// characters, not the username or email, not a common password.
func PasswordError(pw, username, email string) string {
	n := utf8.RuneCountInString(pw)
	switch {
	case pw == "":
		return MsgPasswordRequired
	case !utf8.ValidString(pw) || strings.ContainsRune(pw, 0):
		return MsgPasswordChars
	case n < 8:
		return MsgPasswordShort
	case n > 256:
		return MsgPasswordLong
	case strings.EqualFold(pw, username) || (email != "" && strings.EqualFold(pw, email)):
		return MsgPasswordSame
	case password.IsCommon(pw):
		return MsgPasswordCommon
	}
	return ""
}

// ConfirmError checks the repeated password.
func ConfirmError(pw, confirm string) string {
	switch {
	case confirm == "":
		return MsgConfirmRequired
	case confirm != pw:
		return MsgConfirmMismatch
	}
	return ""
}
