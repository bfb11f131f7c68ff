package handlers

import (
	"gatehouse/rules"
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

// Field messages, shared by the form submit and the inline checks. The
// account rules and their messages live in package rules (the admin
// commands use them too); these names keep the handlers short.
const (
	msgUsernameRequired = rules.MsgUsernameRequired
	msgUsernameLength   = rules.MsgUsernameLength
	msgUsernameChars    = rules.MsgUsernameChars
	msgUsernameTaken    = rules.MsgUsernameTaken
	msgEmailRequired    = rules.MsgEmailRequired
	msgEmailFormat      = rules.MsgEmailFormat
	msgEmailLength      = rules.MsgEmailLength
	msgEmailTaken       = rules.MsgEmailTaken
	msgPasswordRequired = rules.MsgPasswordRequired
	msgPasswordShort    = rules.MsgPasswordShort
	msgPasswordLong     = rules.MsgPasswordLong
	msgPasswordChars    = rules.MsgPasswordChars
	msgPasswordSame     = rules.MsgPasswordSame
	msgPasswordCommon   = rules.MsgPasswordCommon
	msgConfirmRequired  = rules.MsgConfirmRequired
	msgConfirmMismatch  = rules.MsgConfirmMismatch
	msgLoginRequired    = "Enter your username or email address."
	msgLoginPassword    = "Enter your password."
	msgWrongCredentials = "Incorrect username or password."
)

// The rules of product.md §4, under the names the handlers use.
func normalizeUsername(s string) string { return rules.NormalizeUsername(s) }
func normalizeEmail(s string) string    { return rules.NormalizeEmail(s) }
func usernameError(u string) string     { return rules.UsernameError(u) }
func emailError(e string) string        { return rules.EmailError(e) }
func passwordError(pw, username, email string) string {
	return rules.PasswordError(pw, username, email)
}
func confirmError(pw, confirm string) string { return rules.ConfirmError(pw, confirm) }
