package handlers

import (
	"errors"
	"fmt"
	"testing"

	"gatehouse/account"
	"gatehouse/db"
)

// The metrics' sign-in and sign-up outcomes: a few fixed values, one per
// answer of statusOf (product.md §15).
func TestOutcomeOfEveryAnswer(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{nil, "success"},
		{account.ErrWrongPassword, "wrong_credentials"},
		{db.ErrAccountChanged, "wrong_credentials"},
		{errInvalidForm, "invalid"},
		{&account.ThrottledError{Rule: account.SignInFailures}, "throttled"},
		{account.ErrBusy, "busy"},
		{fmt.Errorf("sign in: %w", account.ErrDisabled), "refused"},
		{errors.New("disk I/O error"), "error"},
	}
	for _, tc := range cases {
		if got := outcome(tc.err); got != tc.want {
			t.Errorf("outcome(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
