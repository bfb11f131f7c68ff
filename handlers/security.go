package handlers

import (
	"bytes"
	"encoding/base64"
	"errors"
	"html/template"
	"image/png"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"
	"github.com/pquerna/otp"

	"gatehouse/account"
	"gatehouse/db"
	"gatehouse/views"
)

// Two-step sign-in settings (product.md §10): the security page, the
// authenticator app's setup, enable and disable, new recovery codes and
// removing a passkey (adding one is WebAuthn: passkeys.go). Each change
// needs the current password, ends the user's other sessions (the account
// rules do that) and is recorded.

// Form ids of the security pages.
const (
	formSetup    = "setup"
	formEnable   = "enable"
	formDisable  = "disable"
	formRecovery = "recovery"
)

const (
	securityTitle      = "Two-step sign-in"
	setupTitle         = "Set up your authenticator app"
	codesTitle         = "Your recovery codes"
	msgNeedFactor      = "Turn on the authenticator app or add a passkey first."
	msgTOTPOff         = "The authenticator app is not on."
	noticeTOTPOff      = "The authenticator app is off."
	noticeSetupAgain   = "That setup is no longer waiting. Start it again."
	noticePasskeyGone  = "The passkey was removed."
	recoveryCodesFlash = "2fa.codes" // sealed recovery codes to show once on the security page
)

// securityForm is any form of the security page; each uses some fields.
type securityForm struct {
	CurrentPassword string `form:"current_password"`
	Code            string `form:"code"`
	ID              string `form:"id"`
}

// securityData fills the security page with the account's second factors.
func (a *App) securityData(c *gin.Context) (views.Data, error) {
	d := a.data(c, securityTitle)
	f, err := a.accounts.SecondFactorsOf(c.Request.Context(), currentUser(c).ID)
	if err != nil {
		return d, err
	}
	d.Security.TOTPOn = f.TOTPOn
	d.Security.RecoveryCodes = f.RecoveryCodes
	for _, p := range f.Passkeys {
		d.Security.Passkeys = append(d.Security.Passkeys, views.PasskeyRow{
			ID: p.ID, Name: p.Name, Added: p.CreatedAt, LastUsed: p.LastUsedAt,
		})
	}
	return d, nil
}

func (a *App) securityPage(c *gin.Context) {
	d, err := a.securityData(c)
	if err != nil {
		a.serverError(c, err)
		return
	}
	d.Security.Codes = a.popCodes(c)
	a.render(c, http.StatusOK, views.PageSecurity, d)
}

// securityInvalid shows the security page again with the errors of one of
// its forms; htmx gets that form's fragment (a passkey's form: the whole
// passkey card).
func (a *App) securityInvalid(c *gin.Context, status int, formID string, v *validator, message string) {
	d, err := a.securityData(c)
	if err != nil {
		a.serverError(c, err)
		return
	}
	d.Form = v.form(nil, message)
	d.Form.ID = formID
	fragment := formID + "-form"
	if strings.HasPrefix(formID, "passkey-") {
		fragment = "passkeys-card"
	}
	a.renderForm(c, status, views.PageSecurity, fragment, d)
}

// totpSetup makes a new authenticator secret and shows it; nothing is on
// until a code from it is entered.
func (a *App) totpSetup(c *gin.Context) {
	var f securityForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	var v validator
	if a.securityPassword(c, formSetup, &v, f.CurrentPassword) {
		return
	}
	if !v.valid() {
		a.securityInvalid(c, http.StatusUnprocessableEntity, formSetup, &v, "")
		return
	}
	setup, err := a.accounts.SetupTOTP(c.Request.Context(), currentUser(c))
	if err != nil {
		a.serverError(c, err)
		return
	}
	a.setupPage(c, http.StatusOK, setup, &validator{})
}

// setupPage shows a setup: the QR code, the key and its URI, and the form
// that turns it on.
func (a *App) setupPage(c *gin.Context, status int, setup *account.TOTPSetup, v *validator) {
	d := a.data(c, setupTitle)
	qr, err := qrDataURL(setup.URI)
	if err != nil {
		a.serverError(c, err)
		return
	}
	d.Security.Setup = views.TOTPSetup{Secret: setup.Secret, URI: setup.URI, QR: qr}
	d.Form = v.form(nil, "")
	d.Form.ID = formEnable
	a.render(c, status, views.PageTOTPSetup, d)
}

// qrDataURL draws the otpauth URI as a QR code, a PNG in a data: URL (the
// CSP allows data: images; no script draws it).
func qrDataURL(uri string) (template.URL, error) {
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return "", err
	}
	img, err := key.Image(232, 232)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", err
	}
	// The URL is ours, built from our own PNG: safe to mark as such.
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}

// totpEnable turns the authenticator on with a code from the secret just
// shown, and shows ten new recovery codes once. A wrong code: 422 and the
// same setup again.
func (a *App) totpEnable(c *gin.Context) {
	var f securityForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	ctx := c.Request.Context()
	user := currentUser(c)
	var v validator
	codes, err := []string(nil), error(nil)
	if strings.TrimSpace(f.Code) == "" {
		v.check(false, "code", msgCodeEnter)
	} else {
		codes, err = a.accounts.EnableTOTP(ctx, user, currentSession(c).ID, f.Code)
		if errors.Is(err, account.ErrWrongCode) {
			v.check(false, "code", msgCodeWrong)
			err = nil
		}
	}
	switch {
	case errors.Is(err, account.ErrNoSetup):
		a.setNotice(c, noticeSetupAgain)
		a.redirect(c, "/account/security")
		return
	case err != nil:
		a.serverError(c, err)
		return
	case !v.valid():
		// The same setup again, with the error.
		setup, err := a.accounts.PendingTOTP(ctx, user)
		if errors.Is(err, account.ErrNoSetup) {
			a.setNotice(c, noticeSetupAgain)
			a.redirect(c, "/account/security")
			return
		}
		if err != nil {
			a.serverError(c, err)
			return
		}
		a.setupPage(c, http.StatusUnprocessableEntity, setup, &v)
		return
	}
	a.passedSecondFactor(c)
	a.record(c, user.ID, account.EventTOTPEnabled, "")
	a.codesPage(c, codes)
}

const msgCodeEnter = "Enter the 6-digit code from your app."

// securityPassword checks the current password a security form carries
// (checkPasswordFor); a wrong or missing one goes into v. It reports
// whether it answered the request itself (throttled, or a failure), with
// the form identified by form shown again.
func (a *App) securityPassword(c *gin.Context, form string, v *validator, pw string) (answered bool) {
	return a.checkPasswordFor(c, v, pw, func(status int, msg string) {
		a.securityInvalid(c, status, form, &validator{}, msg)
	})
}

// codesPage shows new recovery codes once.
func (a *App) codesPage(c *gin.Context, codes []string) {
	d := a.data(c, codesTitle)
	d.Security.Codes = codes
	a.render(c, http.StatusOK, views.PageRecoveryCodes, d)
}

// totpDisable turns the authenticator off after the current password and
// a code (from the app, or a recovery code).
func (a *App) totpDisable(c *gin.Context) {
	var f securityForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	ctx := c.Request.Context()
	user := currentUser(c)
	var v validator
	if a.securityPassword(c, formDisable, &v, f.CurrentPassword) {
		return
	}
	v.check(strings.TrimSpace(f.Code) != "", "code", msgCodeRequired)
	if !v.valid() {
		a.securityInvalid(c, http.StatusUnprocessableEntity, formDisable, &v, "")
		return
	}
	factors, err := a.accounts.SecondFactorsOf(ctx, user.ID)
	if err != nil {
		a.serverError(c, err)
		return
	}
	if !factors.TOTPOn {
		a.securityInvalid(c, http.StatusUnprocessableEntity, formDisable, &v, msgTOTPOff)
		return
	}
	method, err := a.accounts.DisableTOTP(ctx, user, currentSession(c).ID, f.Code)
	if errors.Is(err, account.ErrWrongCode) {
		v.check(false, "code", msgCodeWrong)
		a.securityInvalid(c, http.StatusUnprocessableEntity, formDisable, &v, "")
		return
	}
	if err != nil {
		a.serverError(c, err)
		return
	}
	if method == account.MethodRecoveryCode {
		a.record(c, user.ID, account.EventRecoveryCodeUsed, "")
	}
	a.record(c, user.ID, account.EventTOTPDisabled, "")
	a.setNotice(c, noticeTOTPOff)
	a.redirect(c, "/account/security")
}

// recoveryCodesSubmit makes ten new recovery codes (the old ones stop
// working) and shows them once.
func (a *App) recoveryCodesSubmit(c *gin.Context) {
	var f securityForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	ctx := c.Request.Context()
	user := currentUser(c)
	var v validator
	if a.securityPassword(c, formRecovery, &v, f.CurrentPassword) {
		return
	}
	if !v.valid() {
		a.securityInvalid(c, http.StatusUnprocessableEntity, formRecovery, &v, "")
		return
	}
	has, err := a.store.HasSecondFactor(ctx, user.ID)
	if err != nil {
		a.serverError(c, err)
		return
	}
	if !has {
		a.securityInvalid(c, http.StatusUnprocessableEntity, formRecovery, &v, msgNeedFactor)
		return
	}
	codes, err := a.accounts.RenewRecoveryCodes(ctx, user, currentSession(c).ID)
	if err != nil {
		a.serverError(c, err)
		return
	}
	a.record(c, user.ID, account.EventRecoveryCodesRenewed, "")
	a.codesPage(c, codes)
}

// recoveryDownload sends back the codes the page just showed as a text
// file. The server keeps only their hashes, so the page posts them back;
// only well-formed codes are echoed, as an attachment.
func (a *App) recoveryDownload(c *gin.Context) {
	var f struct {
		Codes string `form:"codes"`
	}
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	var b strings.Builder
	b.WriteString("Gatehouse recovery codes for " + currentUser(c).Username + "\n")
	b.WriteString("Each code signs you in once. Keep them somewhere safe.\n\n")
	fields := strings.Fields(f.Codes)
	if len(fields) == 0 || len(fields) > account.RecoveryCodeCount {
		a.errorPage(c, http.StatusBadRequest)
		return
	}
	for _, code := range fields {
		n, ok := account.NormalizeRecoveryCode(code)
		if !ok {
			a.errorPage(c, http.StatusBadRequest)
			return
		}
		b.WriteString(n[:5] + "-" + n[5:] + "\n")
	}
	c.Header("Content-Disposition", `attachment; filename="gatehouse-recovery-codes.txt"`)
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(b.String()))
}

// passkeyDelete removes one of the user's passkeys after the current
// password. An id that is not one of theirs gets 404.
func (a *App) passkeyDelete(c *gin.Context) {
	var f securityForm
	if a.bindError(c, c.ShouldBindWith(&f, binding.Form)) {
		return
	}
	id, err := strconv.ParseInt(strings.TrimSpace(f.ID), 10, 64)
	if err != nil || id <= 0 {
		a.notFound(c)
		return
	}
	formID := "passkey-" + strconv.FormatInt(id, 10)
	var v validator
	if a.securityPassword(c, formID, &v, f.CurrentPassword) {
		return
	}
	if !v.valid() {
		a.securityInvalid(c, http.StatusUnprocessableEntity, formID, &v, "")
		return
	}
	user := currentUser(c)
	name, err := a.passkeyName(c, user.ID, id)
	if err == nil {
		err = a.accounts.DeletePasskey(c.Request.Context(), user, currentSession(c).ID, id)
	}
	if errors.Is(err, db.ErrNotFound) {
		a.notFound(c)
		return
	}
	if err != nil {
		a.serverError(c, err)
		return
	}
	a.record(c, user.ID, account.EventPasskeyRemoved, name)
	a.setNotice(c, noticePasskeyGone)
	a.redirect(c, "/account/security")
}

// passkeyName is the name of one of the user's passkeys (for the
// activity log), or db.ErrNotFound.
func (a *App) passkeyName(c *gin.Context, userID, id int64) (string, error) {
	keys, err := a.store.Passkeys(c.Request.Context(), userID)
	if err != nil {
		return "", err
	}
	for _, k := range keys {
		if k.ID == id {
			return k.Name, nil
		}
	}
	return "", db.ErrNotFound
}

// passedSecondFactor marks this session as having passed a second factor:
// it has just proved one by turning it on (product.md §11).
func (a *App) passedSecondFactor(c *gin.Context) {
	if err := a.store.MarkSecondFactor(c.Request.Context(), currentSession(c).ID); err != nil {
		a.log.Error("mark session second factor", "err", err)
	}
}

// popCodes takes the recovery codes left sealed in the session by the
// first passkey, so the security page shows them once.
func (a *App) popCodes(c *gin.Context) []string {
	ctx := c.Request.Context()
	sealed := a.sessions.PopBytes(ctx, recoveryCodesFlash)
	if len(sealed) == 0 || a.cfg.SecretKey == nil {
		return nil
	}
	plain, err := a.cfg.SecretKey.Open(sealed, []byte(recoveryCodesFlash))
	if err != nil {
		return nil
	}
	return strings.Fields(string(plain))
}

// flashCodes leaves recovery codes for the security page, sealed: session
// data is stored, and codes are never stored in clear.
func (a *App) flashCodes(c *gin.Context, codes []string) error {
	sealed, err := a.cfg.SecretKey.Seal([]byte(strings.Join(codes, " ")), []byte(recoveryCodesFlash))
	if err != nil {
		return err
	}
	a.sessions.Put(c.Request.Context(), recoveryCodesFlash, sealed)
	return nil
}
