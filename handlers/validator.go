package handlers

import (
	"errors"

	"gatehouse/account"
	"gatehouse/views"
)

// validator collects the first error of each field, in the order checked
// (the page order), so the summary and the focus follow the page. It is
// the account rules' Problems with the handlers' own checks added.
type validator struct {
	account.Problems
}

// problemsOf returns the field errors that err carries (an
// *account.Problems), or none.
func problemsOf(err error) *validator {
	var p *account.Problems
	if errors.As(err, &p) {
		return &validator{*p}
	}
	return &validator{}
}

// check records msg for field unless ok or the field already has an error.
func (v *validator) check(ok bool, field, msg string) {
	if !ok {
		v.Add(field, msg)
	}
}

// add records a rule's message when it has one.
func (v *validator) add(field, msg string) { v.Add(field, msg) }

func (v *validator) valid() bool { return v.Empty() }

// form builds what the page shows: values back (never passwords), errors,
// and which field takes focus.
func (v *validator) form(values map[string]string, message string) views.Form {
	f := views.Form{Values: values, Errors: v.Fields, Order: v.Order, Message: message}
	if len(v.Order) > 0 {
		f.First = v.Order[0]
	}
	return f
}

// Messages of the sign-in form (the account rules' messages live in
// package rules).
const (
	msgLoginRequired    = "Enter your username or email address."
	msgLoginPassword    = "Enter your password."
	msgWrongCredentials = "Incorrect username or password."
	msgDisabled         = "This account is disabled."
)
