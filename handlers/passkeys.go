package handlers

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"gatehouse/account"
	"gatehouse/db"
)

// Passkeys (product.md §10) with go-webauthn: adding one (signed in, after
// the current password), and signing in with one, either as a whole
// sign-in (a discoverable credential with user verification) or as the
// second step of a password sign-in. The browser side is static/passkey.js.
//
// Each ceremony's challenge lives in the one-time store (the SQL database,
// or Redis) under a random id that the begin answer gives the script and
// the finish request sends back: a challenge is taken once, so it cannot
// be replayed, and every instance sees it. Nothing is written to the
// session of a signed-out visitor who merely loads the sign-in page.

// challengeTTL bounds a ceremony: the browser's own timeout is 5 minutes.
const challengeTTL = 5 * time.Minute

const (
	msgPasskeyName     = "Give the passkey a name."
	msgPasskeyNameLong = "Use at most 60 characters."
	msgPasskeyFailed   = "The passkey could not be used. Try again."
	msgPasskeyAdd      = "The passkey could not be added. Try again."
	noticePasskeyAdded = "The passkey was added."
)

// newWebAuthn configures the relying party from the base URL: its host is
// the RP ID, its origin the only origin accepted. Both as browsers write
// them (host in lower case, no default port: webOrigin), since the
// browser's origin is compared as a string.
func newWebAuthn(base string, host string) (*webauthn.WebAuthn, error) {
	return webauthn.New(&webauthn.Config{
		RPID:          host,
		RPDisplayName: "Gatehouse",
		RPOrigins:     []string{base},
	})
}

// passkeyUser is an account as go-webauthn sees it.
type passkeyUser struct {
	user  *db.User
	creds []webauthn.Credential
}

func (u passkeyUser) WebAuthnID() []byte                         { return userHandle(u.user.ID) }
func (u passkeyUser) WebAuthnName() string                       { return u.user.Username }
func (u passkeyUser) WebAuthnDisplayName() string                { return u.user.Username }
func (u passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// userHandle is the WebAuthn user handle of an account: its id, eight
// bytes. It names no person; the credential id, not the handle, finds the
// passkey, and the handle must then match its account.
func userHandle(id int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(id)) }

// loadPasskeyUser reads an account's passkeys for go-webauthn.
func (a *App) loadPasskeyUser(c *gin.Context, u *db.User) (passkeyUser, []db.Passkey, error) {
	keys, err := a.store.Passkeys(c.Request.Context(), u.ID)
	if err != nil {
		return passkeyUser{}, nil, err
	}
	pu := passkeyUser{user: u}
	for _, k := range keys {
		var cred webauthn.Credential
		if err := json.Unmarshal(k.Credential, &cred); err != nil {
			return passkeyUser{}, nil, err
		}
		pu.creds = append(pu.creds, cred)
	}
	return pu, keys, nil
}

// ceremony is what a begin keeps for its finish.
type ceremony struct {
	Session webauthn.SessionData `json:"session"`
	UserID  int64                `json:"user_id"` // the account it is for; 0: any (discoverable)
	Name    string               `json:"name,omitempty"`
}

// keepCeremony stores a ceremony under a new random id and returns it.
func (a *App) keepCeremony(c *gin.Context, kind string, cer ceremony) (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	v, err := json.Marshal(cer)
	if err != nil {
		return "", err
	}
	return id, a.oneTime.PutOneTime(c.Request.Context(), "webauthn:"+kind+":"+id, v, a.cfg.Now().Add(challengeTTL))
}

// takeCeremony takes the ceremony under id, once.
func (a *App) takeCeremony(c *gin.Context, kind, id string) (*ceremony, error) {
	v, err := a.oneTime.TakeOneTime(c.Request.Context(), "webauthn:"+kind+":"+id, a.cfg.Now())
	if err != nil {
		return nil, err
	}
	var cer ceremony
	if err := json.Unmarshal(v, &cer); err != nil {
		return nil, err
	}
	return &cer, nil
}

// jsonFailure answers a script with what failure makes of err (a
// refusal's status, message and Retry-After), unless failure answered
// itself.
func (a *App) jsonFailure(c *gin.Context, err error) {
	if status, msg, answered := a.failure(c, err); !answered {
		jsonError(c, status, msg, nil)
	}
}

// jsonError answers a script: {"error": CODE, "message": ..., "fields": {...}}.
func jsonError(c *gin.Context, status int, message string, fields map[string]string) {
	code := jsonErrors[status]
	if code == "" {
		code = strings.ToLower(http.StatusText(status))
	}
	c.JSON(status, gin.H{"error": code, "message": message, "fields": fields})
}

// readJSON reads a small JSON body into v; false (answered 400 or 413)
// when it is not one.
func (a *App) readJSON(c *gin.Context, v any) bool {
	dec := json.NewDecoder(c.Request.Body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			jsonError(c, http.StatusRequestEntityTooLarge, "", nil)
			return false
		}
		jsonError(c, http.StatusBadRequest, msgPasskeyFailed, nil)
		return false
	}
	return true
}

// registerBeginRequest starts adding a passkey.
type registerBeginRequest struct {
	Name            string `json:"name"`
	CurrentPassword string `json:"current_password"`
}

// finishRequest ends a ceremony: the begin's id and the browser's
// credential, as JSON; next and rd (the sign-in page's hidden fields) are
// where a sign-in goes afterwards.
type finishRequest struct {
	ID         string          `json:"id"`
	Credential json.RawMessage `json:"credential"`
	Next       string          `json:"next"`
	RD         string          `json:"rd"`
}

// passkeyName checks a passkey's name: 1 to 60 characters of printable
// text.
func passkeyName(raw string) (string, string) {
	name := strings.TrimSpace(raw)
	switch {
	case name == "":
		return "", msgPasskeyName
	case utf8.RuneCountInString(name) > 60 || !utf8.ValidString(name):
		return "", msgPasskeyNameLong
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return "", msgPasskeyName
		}
	}
	return name, ""
}

// passkeyRegisterBegin checks the name and the current password and
// answers the options for navigator.credentials.create: a discoverable
// credential (resident key) with user verification, none of the account's
// existing passkeys again.
func (a *App) passkeyRegisterBegin(c *gin.Context) {
	var req registerBeginRequest
	if !a.readJSON(c, &req) {
		return
	}
	user := currentUser(c)
	var v validator
	name, msg := passkeyName(req.Name)
	v.check(msg == "", "name", msg)
	if a.checkPasswordFor(c, &v, req.CurrentPassword, func(status int, msg string) {
		jsonError(c, status, msg, nil)
	}) {
		return
	}
	if !v.valid() {
		jsonError(c, http.StatusUnprocessableEntity, "", v.Fields)
		return
	}
	pu, _, err := a.loadPasskeyUser(c, user)
	if err != nil {
		a.serverError(c, err)
		return
	}
	exclude := make([]protocol.CredentialDescriptor, len(pu.creds))
	for i := range pu.creds {
		exclude[i] = pu.creds[i].Descriptor()
	}
	creation, session, err := a.webauthn.BeginRegistration(pu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationRequired,
		}),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExclusions(exclude))
	if err != nil {
		a.serverError(c, err)
		return
	}
	id, err := a.keepCeremony(c, "register", ceremony{Session: *session, UserID: user.ID, Name: name})
	if err != nil {
		a.serverError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": id, "publicKey": creation.Response})
}

// passkeyRegisterFinish checks the new credential against the challenge
// and stores it. The first second factor of an account brings ten
// recovery codes, which the security page shows once.
func (a *App) passkeyRegisterFinish(c *gin.Context) {
	var req finishRequest
	if !a.readJSON(c, &req) {
		return
	}
	user := currentUser(c)
	cer, err := a.takeCeremony(c, "register", req.ID)
	if err != nil || cer.UserID != user.ID {
		jsonError(c, http.StatusBadRequest, msgPasskeyAdd, nil)
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(bytes.NewReader(req.Credential))
	if err != nil {
		jsonError(c, http.StatusBadRequest, msgPasskeyAdd, nil)
		return
	}
	pu, _, err := a.loadPasskeyUser(c, user)
	if err != nil {
		a.serverError(c, err)
		return
	}
	cred, err := a.webauthn.CreateCredential(pu, cer.Session, parsed)
	if err != nil {
		a.log.Warn("passkey registration refused", "user_id", user.ID, "err", err)
		jsonError(c, http.StatusBadRequest, msgPasskeyAdd, nil)
		return
	}
	stored, err := json.Marshal(cred)
	if err != nil {
		a.serverError(c, err)
		return
	}
	codes, err := a.accounts.AddPasskey(c.Request.Context(), user, currentSession(c).ID,
		db.Passkey{CredentialID: cred.ID, Name: cer.Name, Credential: stored})
	if errors.Is(err, db.ErrDuplicatePasskey) {
		jsonError(c, http.StatusConflict, "That passkey is already added.", nil)
		return
	}
	if err != nil {
		a.serverError(c, err)
		return
	}
	a.passedSecondFactor(c)
	a.record(c, user.ID, account.EventPasskeyAdded, cer.Name)
	if len(codes) > 0 {
		if err := a.flashCodes(c, codes); err != nil {
			a.serverError(c, err)
			return
		}
	}
	a.setNotice(c, noticePasskeyAdded)
	c.JSON(http.StatusOK, gin.H{"redirect": "/account/security"})
}

// passkeySigninBegin answers the options for navigator.credentials.get.
// With a pending second step, the passkeys of that account are allowed;
// otherwise any discoverable passkey, with user verification required,
// since it is the whole sign-in.
func (a *App) passkeySigninBegin(c *gin.Context) {
	if err := a.accounts.TakePasskeyChallenge(c.Request.Context(), c.ClientIP()); err != nil {
		a.jsonFailure(c, err)
		return
	}
	var assertion *protocol.CredentialAssertion
	var session *webauthn.SessionData
	var err error
	cer := ceremony{}
	if p := a.pendingStep(c); p != nil {
		user, uerr := a.store.UserByID(c.Request.Context(), p.userID)
		if uerr != nil {
			a.serverError(c, uerr)
			return
		}
		pu, _, lerr := a.loadPasskeyUser(c, user)
		if lerr != nil {
			a.serverError(c, lerr)
			return
		}
		cer.UserID = user.ID
		assertion, session, err = a.webauthn.BeginLogin(pu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	} else {
		assertion, session, err = a.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	}
	if err != nil {
		// BeginLogin refuses an account without passkeys.
		jsonError(c, http.StatusBadRequest, msgPasskeyFailed, nil)
		return
	}
	cer.Session = *session
	id, err := a.keepCeremony(c, "signin", cer)
	if err != nil {
		a.serverError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": id, "publicKey": assertion.Response})
}

// passkeySigninFinish checks the assertion and signs in through the
// funnel with a passkey proof: a whole sign-in, or the second step of the
// pending one.
func (a *App) passkeySigninFinish(c *gin.Context) {
	var req finishRequest
	if !a.readJSON(c, &req) {
		return
	}
	ctx := c.Request.Context()
	ip := c.ClientIP()
	if err := a.accounts.RefusePasskey(ctx, ip); err != nil {
		a.jsonFailure(c, err)
		return
	}
	cer, err := a.takeCeremony(c, "signin", req.ID)
	if err != nil {
		jsonError(c, http.StatusBadRequest, msgPasskeyFailed, nil)
		return
	}
	p := a.pendingStep(c)
	if cer.UserID != 0 && (p == nil || p.userID != cer.UserID) {
		jsonError(c, http.StatusBadRequest, msgPasskeyFailed, nil)
		return
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(bytes.NewReader(req.Credential))
	if err != nil {
		a.accounts.PasskeyFailed(ctx, cer.UserID, ip)
		jsonError(c, http.StatusBadRequest, msgPasskeyFailed, nil)
		return
	}
	var found passkeyUser
	var cred *webauthn.Credential
	if cer.UserID != 0 {
		user, uerr := a.store.UserByID(ctx, cer.UserID)
		if uerr != nil {
			jsonError(c, http.StatusBadRequest, msgPasskeyFailed, nil)
			return
		}
		if found, _, err = a.loadPasskeyUser(c, user); err == nil {
			cred, err = a.webauthn.ValidateLogin(found, cer.Session, parsed)
		}
	} else {
		var u webauthn.User
		u, cred, err = a.webauthn.ValidatePasskeyLogin(func(rawID, handle []byte) (webauthn.User, error) {
			key, err := a.store.PasskeyByCredentialID(ctx, rawID)
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(handle, userHandle(key.UserID)) {
				return nil, errors.New("user handle does not match the passkey's account")
			}
			user, err := a.store.UserByID(ctx, key.UserID)
			if err != nil {
				return nil, err
			}
			pu, _, err := a.loadPasskeyUser(c, user)
			return pu, err
		}, cer.Session, parsed)
		if err == nil {
			found = u.(passkeyUser)
		}
	}
	if err == nil && cred.Authenticator.CloneWarning {
		err = errors.New("the authenticator's counter went back: a cloned passkey?")
	}
	if err != nil {
		a.log.Warn("passkey sign-in refused", "err", err)
		a.accounts.PasskeyFailed(ctx, cer.UserID, ip)
		if cer.UserID != 0 {
			a.record(c, cer.UserID, account.EventSignInFailed, "wrong_code")
		}
		jsonError(c, http.StatusUnauthorized, msgPasskeyFailed, nil)
		return
	}
	if err := a.passkeyUsed(c, cred); err != nil {
		a.serverError(c, err)
		return
	}
	remember, next, rd := false, req.Next, req.RD
	if p != nil && p.userID == found.user.ID {
		remember, next, rd = p.remember, p.next, p.rd
	}
	err = a.signIn(c, &account.Proof{User: found.user, Method: account.MethodPasskey}, remember)
	if err != nil {
		status, msg, answered := a.failure(c, err)
		if !answered {
			jsonError(c, status, msg, nil)
		}
		return
	}
	a.clearPending(c)
	c.JSON(http.StatusOK, gin.H{"redirect": a.destination(next, rd)})
}

// passkeyUsed stores the credential's new state (its signature counter)
// and when it was used.
func (a *App) passkeyUsed(c *gin.Context, cred *webauthn.Credential) error {
	key, err := a.store.PasskeyByCredentialID(c.Request.Context(), cred.ID)
	if err != nil {
		return err
	}
	stored, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	return a.store.PasskeyUsed(c.Request.Context(), key.ID, stored, a.cfg.Now())
}

// passkeysOn answers 404 for the WebAuthn ceremonies when passkeys are off
// (a base URL whose host is an IP address: WebAuthn refuses it).
func (a *App) passkeysOn(c *gin.Context) {
	if a.webauthn == nil {
		a.notFound(c)
		c.Abort()
		return
	}
	c.Next()
}
