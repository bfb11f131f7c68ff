package handlers

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// destination is where a successful sign-in goes (product.md §2, §11): rd
// when it is an app of ours (safeRd), else next when it is a local path
// (safeNext), else the dashboard. rd wins over next. Every step of the
// sign-in that ends in a session (the password form, the second step)
// uses this one function.
func (a *App) destination(next, rd string) string {
	if u := a.safeRd(rd); u != "" {
		return u
	}
	if n := safeNext(next); n != "" {
		return n
	}
	return "/dashboard"
}

// safeRd returns rd when it is an absolute http(s) URL whose host is the
// base URL's host, the cookie domain or a name under it (product.md §11),
// else "". Anything that a browser could read differently from Go's
// parser is refused outright: backslashes (read as "/"), whitespace and
// control characters (dropped), user info ("https://ours@evil.com").
func (a *App) safeRd(rd string) string {
	if rd == "" || len(rd) > 4096 || !utf8.ValidString(rd) || strings.ContainsRune(rd, '\\') {
		return ""
	}
	for _, r := range rd {
		if r <= ' ' || r == 0x7f {
			return ""
		}
	}
	u, err := url.Parse(rd)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Opaque != "" {
		return ""
	}
	if !a.ownHost(u.Hostname()) || strings.HasSuffix(u.Host, ":") {
		return ""
	}
	return u.String()
}

// ownHost reports whether host (without port) is the base URL's host, or
// the cookie domain or a name under it: the hosts a sign-in may send the
// browser back to.
func (a *App) ownHost(host string) bool {
	host = strings.ToLower(host)
	if host == "" {
		return false
	}
	if host == strings.ToLower(a.cfg.BaseURL.Hostname()) {
		return true
	}
	d := a.cfg.CookieDomain
	return d != "" && (host == d || strings.HasSuffix(host, "."+d))
}
