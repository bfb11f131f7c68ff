package handlers

import (
	"net/mail"
	"strings"
	"unicode/utf8"

	"gatehouse/password"
	"gatehouse/views"
)

// validator collects the first error of each field, in the order checked
// (the page order), so the summary and the focus follow the page.
type validator struct {
	errors map[string]string
	order  []string
}

// check records msg for field unless ok or the field already has an error.
func (v *validator) check(ok bool, field, msg string) {
	if ok {
		return
	}
	if v.errors == nil {
		v.errors = map[string]string{}
	}
	if _, seen := v.errors[field]; seen {
		return
	}
	v.errors[field] = msg
	v.order = append(v.order, field)
}

// add records a rule's message when it has one.
func (v *validator) add(field, msg string) { v.check(msg == "", field, msg) }

func (v *validator) valid() bool { return len(v.errors) == 0 }

// form builds what the page shows: values back (never passwords), errors,
// and which field takes focus.
func (v *validator) form(values map[string]string, message string) views.Form {
	f := views.Form{Values: values, Errors: v.errors, Order: v.order, Message: message}
	if len(v.order) > 0 {
		f.First = v.order[0]
	}
	return f
}

// Field messages, shared by the form submit and the inline checks.
const (
	msgUsernameRequired = "Enter a username."
	msgUsernameLength   = "Username must be 3 to 31 characters long."
	msgUsernameChars    = "Username can only use letters a–z, digits 0–9, _ and -."
	msgUsernameTaken    = "That username is taken. Try another."
	msgEmailRequired    = "Enter your email address."
	msgEmailFormat      = "Enter an email address like name@example.com."
	msgEmailLength      = "Email address must be at most 254 characters."
	msgEmailTaken       = "An account already uses that email address. Sign in instead?"
	msgPasswordRequired = "Enter a password."
	msgPasswordShort    = "Password must be at least 8 characters."
	msgPasswordLong     = "Password must be at most 256 characters."
	msgPasswordChars    = "Password contains characters that cannot be used."
	msgPasswordSame     = "Password must not be your username or email address."
	msgPasswordCommon   = "That password is one of the most common ones. Choose another."
	msgConfirmRequired  = "Enter your password again."
	msgConfirmMismatch  = "Passwords do not match."
	msgLoginRequired    = "Enter your username or email address."
	msgLoginPassword    = "Enter your password."
	msgWrongCredentials = "Incorrect username or password."
)

// normalizeUsername trims and lowercases a username (product.md §4).
func normalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// normalizeEmail trims an address and lowercases it, as it is stored.
func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// usernameError checks a normalised username; "" when it is valid.
func usernameError(u string) string {
	switch {
	case u == "":
		return msgUsernameRequired
	case !utf8.ValidString(u):
		return msgUsernameChars
	}
	n := utf8.RuneCountInString(u)
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return msgUsernameChars
		}
	}
	if n < 3 || n > 31 {
		return msgUsernameLength
	}
	return ""
}

// emailError checks a normalised address: one plain name@domain, no
// display name, at most 254 characters.
func emailError(e string) string {
	switch {
	case e == "":
		return msgEmailRequired
	case len(e) > 254:
		return msgEmailLength
	case !utf8.ValidString(e) || strings.ContainsAny(e, " \t\r\n<>,;\"\x00"):
		return msgEmailFormat
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Name != "" || addr.Address != e {
		return msgEmailFormat
	}
	at := strings.LastIndexByte(e, '@')
	if at < 1 || at == len(e)-1 {
		return msgEmailFormat
	}
	return ""
}

// passwordError checks a new password against product.md §4: 8–256
// characters, not the username or email, not a common password.
func passwordError(pw, username, email string) string {
	n := utf8.RuneCountInString(pw)
	switch {
	case pw == "":
		return msgPasswordRequired
	case !utf8.ValidString(pw) || strings.ContainsRune(pw, 0):
		return msgPasswordChars
	case n < 8:
		return msgPasswordShort
	case n > 256:
		return msgPasswordLong
	case strings.EqualFold(pw, username) || (email != "" && strings.EqualFold(pw, email)):
		return msgPasswordSame
	case password.IsCommon(pw):
		return msgPasswordCommon
	}
	return ""
}

// confirmError checks the repeated password.
func confirmError(pw, confirm string) string {
	switch {
	case confirm == "":
		return msgConfirmRequired
	case confirm != pw:
		return msgConfirmMismatch
	}
	return ""
}
