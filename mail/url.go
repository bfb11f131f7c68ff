package mail

import (
	"errors"
	"net"
	"net/url"
	"strconv"
)

// Default ports: submission with STARTTLS, and submission over implicit TLS.
const (
	defaultSMTPPort  = "587"
	defaultSMTPSPort = "465"
)

// urlError builds a ParseURL error. The messages never quote the input: a
// password with an unescaped '/', '?' or '#' ends up in the host, port or
// path, so echoing any part of a bad URL could print the password.
func urlError(msg string) error {
	return errors.New("invalid SMTP URL: " + msg + " (want smtp://[user:pass@]host[:port] or smtps://…)")
}

// ParseURL validates an -smtp-url value at start: scheme smtp or smtps, a
// host, an optional user:pass, and a port (587 for smtp, 465 for smtps when
// none is given). The returned URL always carries the port. Errors are one
// line and never contain the password.
func ParseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, urlError("empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, urlError("not a valid URL; percent-encode special characters in the user name and password")
	}
	var port string
	switch u.Scheme {
	case "smtp":
		port = defaultSMTPPort
	case "smtps":
		port = defaultSMTPSPort
	default:
		return nil, urlError("the scheme must be smtp or smtps")
	}
	if u.Opaque != "" {
		return nil, urlError("missing // after the scheme")
	}
	host := u.Hostname()
	if host == "" {
		return nil, urlError("the host is missing")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, urlError("the port must be a number from 1 to 65535")
		}
		port = p
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, urlError("unexpected path, query or fragment; percent-encode special characters in the user name and password")
	}
	if u.User != nil {
		if u.User.Username() == "" {
			return nil, urlError("the user name is missing")
		}
		if _, ok := u.User.Password(); !ok {
			return nil, urlError("the password is missing")
		}
	}
	return &url.URL{Scheme: u.Scheme, User: u.User, Host: net.JoinHostPort(host, port)}, nil
}
