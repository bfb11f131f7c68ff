package account

import (
	"context"
	"errors"

	"gatehouse/db"
	"gatehouse/rules"
)

// NewAccount is a sign-up, as typed.
type NewAccount struct {
	Username, Email, Password, PasswordConfirm string
	// ClientIP is the address asking, for the limit on answers that tell
	// whether a name is taken; empty for the admin commands.
	ClientIP string
}

// Create checks every rule of product.md §4 at once and creates the
// account. Every problem is reported in the same answer (*Problems): the
// shape of each field, and whether a username or address of the right
// shape is taken, so a user never fixes one field only to be told about
// the next. It also returns a *ThrottledError (too many taken-answers for
// the client address) or ErrBusy. The address starts unverified.
func (s *Service) Create(ctx context.Context, in NewAccount) (*db.User, error) {
	username, email := rules.NormalizeUsername(in.Username), rules.NormalizeEmail(in.Email)
	var p Problems
	p.Add("username", rules.UsernameError(username))
	p.Add("email", rules.EmailError(email))
	p.Add("password", rules.PasswordError(in.Password, username, email))
	p.Add("password_confirm", rules.ConfirmError(in.Password, in.PasswordConfirm))
	// Whether a name is taken is looked up only for a name of the right
	// shape: no account can have another. Cheap, before the hash;
	// CreateUser checks again under the write lock.
	if !p.Has("username") || !p.Has("email") {
		if err := s.lookUpTaken(ctx, &p, username, email, in.ClientIP); err != nil {
			return nil, err
		}
	}
	p.inPageOrder("username", "email", "password", "password_confirm")
	if err := p.Err(); err != nil {
		return nil, err
	}
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	user, err := s.store.CreateUser(ctx, username, email, hash, s.Now())
	switch {
	case errors.Is(err, db.ErrDuplicateUsername):
		p.Add("username", rules.MsgUsernameTaken)
		return nil, &p
	case errors.Is(err, db.ErrDuplicateEmail):
		p.Add("email", rules.MsgEmailTaken)
		return nil, &p
	case err != nil:
		return nil, err
	}
	s.log.Info("account created", "user_id", user.ID, "username", user.Username)
	return user, nil
}

// addTaken records that a username or address of the right shape is
// taken.
func (s *Service) addTaken(ctx context.Context, p *Problems, username, email string) error {
	if !p.Has("username") {
		taken, err := s.store.UsernameTaken(ctx, username)
		if err != nil {
			return err
		}
		if taken {
			p.Add("username", rules.MsgUsernameTaken)
		}
	}
	if !p.Has("email") {
		taken, err := s.store.EmailTaken(ctx, email)
		if err != nil {
			return err
		}
		if taken {
			p.Add("email", rules.MsgEmailTaken)
		}
	}
	return nil
}

// UsernameProblem is what is wrong with a username as the user types it
// (the inline check): its rule, then whether an account has it; "" when
// nothing is. The look-up counts against the client address's limit of
// taken-answers (product.md §6).
func (s *Service) UsernameProblem(ctx context.Context, raw, clientIP string) (string, error) {
	username := rules.NormalizeUsername(raw)
	var p Problems
	p.Add("username", rules.UsernameError(username))
	p.Add("email", "-") // not asked
	if !p.Has("username") {
		if err := s.lookUpTaken(ctx, &p, username, "", clientIP); err != nil {
			return "", err
		}
	}
	return p.Fields["username"], nil
}

// EmailProblem is UsernameProblem for an email address.
func (s *Service) EmailProblem(ctx context.Context, raw, clientIP string) (string, error) {
	email := rules.NormalizeEmail(raw)
	var p Problems
	p.Add("username", "-") // not asked
	p.Add("email", rules.EmailError(email))
	if !p.Has("email") {
		if err := s.lookUpTaken(ctx, &p, "", email, clientIP); err != nil {
			return "", err
		}
	}
	return p.Fields["email"], nil
}

// lookUpTaken adds to p whether the username or address (those without a
// problem yet) is taken, under the client address's limit of "taken"
// answers (product.md §6): past 100 in 10 minutes, no look-up is made and
// the answer is 429. An answer that says "taken" counts; a name that is
// free tells an enumerator nothing worth limiting, and counting it would
// refuse honest sign-ups from one busy address. The admin commands (no
// address) are not limited. A failing throttle store is logged and lets
// the look-up through.
func (s *Service) lookUpTaken(ctx context.Context, p *Problems, username, email, clientIP string) error {
	tctx := context.WithoutCancel(ctx)
	if clientIP != "" {
		if err := s.refuse(tctx, TakenAnswers, AddressKey(clientIP)); err != nil {
			return err
		}
	}
	before := len(p.Order)
	if err := s.addTaken(ctx, p, username, email); err != nil {
		return err
	}
	if clientIP != "" && len(p.Order) > before {
		if err := s.limits.Add(tctx, TakenAnswers, AddressKey(clientIP)); err != nil {
			s.log.Error("throttle", "err", err)
		}
	}
	return nil
}
