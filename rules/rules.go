// Package rules holds the account rules of product.md §4 — how usernames
// and addresses are normalised and what makes a username, an address or a
// password acceptable — with their user-facing messages. The web forms and
// the admin commands both use it, so a rule cannot differ between them.
package rules

import (
	"net"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"

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
	MsgEmailInvisible   = "Email address contains invisible or control characters. Type it again without them."
	MsgEmailLiteral     = "Use an email address with a domain name, like name@example.com, not an IP address."
	MsgEmailDomain      = "The part after @ is not a valid domain name. Check it for typos."
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

// NormalizeEmail trims an address, lowercases it and writes its domain in
// ASCII (punycode), as it is stored: idn@exämple.com and
// idn@xn--exmple-cua.com are one mailbox, so they must be one account. An
// address that cannot be converted (a bad domain, or invisible characters,
// which the IDNA mapping would otherwise drop without a word) keeps its
// domain as typed, and EmailError refuses it.
func NormalizeEmail(s string) string {
	e := strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(e, '@')
	if at < 0 || !utf8.ValidString(e) || strings.IndexFunc(e, Invisible) >= 0 {
		return e
	}
	domain, err := idna.Lookup.ToASCII(e[at+1:])
	if err != nil {
		return e
	}
	return e[:at+1] + domain
}

// Invisible reports whether r shows as nothing, or as something else than
// itself: control characters (C0 and C1, which a terminal may obey),
// format characters such as bidi overrides and zero-width spaces, spaces
// other than U+0020, and the other default-ignorable characters (Hangul
// fillers, variation selectors). Private-use and unassigned code points
// count too: nobody can tell what they look like.
func Invisible(r rune) bool {
	if r == ' ' {
		return false
	}
	return !unicode.IsGraphic(r) || unicode.In(r, unicode.Zs, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

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
// display name, at most 254 characters, nothing invisible, and a domain
// name in its ASCII form (not an IP address).
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
	// Invisible characters would let two addresses look alike, or turn the
	// address round on screen or in a terminal.
	case strings.IndexFunc(e, Invisible) >= 0:
		return MsgEmailInvisible
	}
	at := strings.LastIndexByte(e, '@')
	if at < 1 || at == len(e)-1 {
		return MsgEmailFormat
	}
	domain := e[at+1:]
	// Address literals (x@[127.0.0.1]) and bare IP addresses name a host,
	// not a domain: mail would go wherever the user says (an internal
	// address, say), and one mailbox could be written in many ways.
	if strings.HasPrefix(domain, "[") || net.ParseIP(domain) != nil {
		return MsgEmailLiteral
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Name != "" || addr.Address != e {
		return MsgEmailFormat
	}
	// NormalizeEmail leaves a domain it cannot convert as typed; a valid
	// one is already in its ASCII form, so converting it changes nothing.
	if ascii, err := idna.Lookup.ToASCII(domain); err != nil || ascii != domain {
		return MsgEmailDomain
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
	case strings.EqualFold(pw, username) || sameAsEmail(pw, email):
		return MsgPasswordSame
	case password.IsCommon(pw):
		return MsgPasswordCommon
	}
	return ""
}

// sameAsEmail reports whether pw is the normalised address email as a user
// may type it: in any case, with an internationalised domain in Unicode or
// in punycode (the form email is stored in).
func sameAsEmail(pw, email string) bool {
	return email != "" && (strings.EqualFold(pw, email) || (pw == strings.TrimSpace(pw) && NormalizeEmail(pw) == email))
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

// Group-name messages (product.md §11).
const (
	MsgGroupChars    = "A group name is 1 to 32 characters of a–z, 0–9, _ and -."
	MsgGroupsTooMany = "An account can be in at most 100 groups."
)

// GroupError checks one group name: 1–32 characters of a–z, 0–9, _ and
// -. It returns the message, or "" when the name is fine.
func GroupError(name string) string {
	if len(name) < 1 || len(name) > 32 {
		return MsgGroupChars
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return MsgGroupChars
		}
	}
	return ""
}
