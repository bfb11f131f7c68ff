// Package access holds the access rules of the forward-auth endpoints
// (product.md §11): which requests to other apps need a signed-in
// account, a second factor or a group, read once from a YAML file into a
// typed value, and the pure function that decides a request.
package access

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"

	"gatehouse/rules"
)

// Policy is what a rule asks of a request it matches.
type Policy string

// The policies of product.md §11.
const (
	Bypass    Policy = "bypass"     // anyone, signed in or not
	SignedIn  Policy = "signed-in"  // a signed-in account
	TwoFactor Policy = "two-factor" // a session that passed a second factor
	Deny      Policy = "deny"       // nobody
)

// Rule is one entry of the file. The first rule whose hosts, paths and
// methods all match a request decides it.
type Rule struct {
	Hosts   []string `yaml:"hosts"`   // "app.example.com" or "*.example.com"
	Paths   []string `yaml:"paths"`   // optional: "/exact" or "/prefix*"
	Methods []string `yaml:"methods"` // optional: "GET", "POST", ...
	Groups  []string `yaml:"groups"`  // optional: the account must be in one
	Policy  Policy   `yaml:"policy"`

	anyHost bool // only the built-in default matches every host
}

// Rules is a parsed, checked rules file.
type Rules struct {
	rules []Rule
}

// Default is what applies without -access-rules: every host needs a
// signed-in account.
func Default() *Rules {
	return &Rules{rules: []Rule{{Policy: SignedIn, anyHost: true}}}
}

// file is the YAML document. Each rule is decoded on its own, so an error
// can name the rule it is in.
type file struct {
	Rules []yaml.RawMessage `yaml:"rules"`
}

// Load reads and checks a rules file. The error is one line naming the
// file, the rule (counted from 1) and the problem.
func Load(name string) (*Rules, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("access rules %s: %w", name, unwrapPath(err))
	}
	rs, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("access rules %s: %w", name, err)
	}
	return rs, nil
}

// unwrapPath drops the file name that os.ReadFile repeats.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse checks a rules document. Unknown keys are errors: a misspelt
// "grups" must not quietly open an app to everyone.
func Parse(b []byte) (*Rules, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("the file is empty; want a list under \"rules:\"")
	}
	var f file
	if err := yaml.UnmarshalWithOptions(b, &f, yaml.Strict()); err != nil {
		return nil, yamlProblem(err, true)
	}
	if len(f.Rules) == 0 {
		return nil, errors.New("no rules under \"rules:\" (with no rule every request would be denied)")
	}
	rs := &Rules{}
	for i, raw := range f.Rules {
		var r Rule
		if err := yaml.UnmarshalWithOptions(raw, &r, yaml.Strict()); err != nil {
			// The rule's own lines are counted from 1 here, so its line
			// number would mislead: the rule's number says where.
			return nil, fmt.Errorf("rule %d: %w", i+1, yamlProblem(err, false))
		}
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("rule %d: %w", i+1, err)
		}
		rs.rules = append(rs.rules, r)
	}
	return rs, nil
}

// yamlProblem is a YAML error as one line: its message, with the line it
// is on when withLine, never the multi-line source excerpt the library
// can add.
func yamlProblem(err error, withLine bool) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		msg := strings.Join(strings.Fields(ye.GetMessage()), " ")
		if tk := ye.GetToken(); withLine && tk != nil && tk.Position != nil {
			return fmt.Errorf("line %d: %s", tk.Position.Line, msg)
		}
		return errors.New(msg)
	}
	return errors.New(strings.Join(strings.Fields(err.Error()), " "))
}

var (
	hostRE   = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	methodRE = regexp.MustCompile(`^[A-Z]{1,20}$`)
)

// check validates a rule and normalises its hosts (lowercase) and
// methods (uppercase).
func (r *Rule) check() error {
	switch r.Policy {
	case Bypass, SignedIn, TwoFactor, Deny:
	case "":
		return errors.New("policy is missing (want bypass, signed-in, two-factor or deny)")
	default:
		return fmt.Errorf("unknown policy %q (want bypass, signed-in, two-factor or deny)", r.Policy)
	}
	if len(r.Hosts) == 0 {
		return errors.New("hosts is missing (want e.g. [\"app.example.com\"] or [\"*.example.com\"])")
	}
	for i, h := range r.Hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if !hostRE.MatchString(strings.TrimPrefix(h, "*.")) {
			return fmt.Errorf("host %q is not a host name or \"*.\" and a host name (no scheme, port or path)", r.Hosts[i])
		}
		r.Hosts[i] = h
	}
	for _, p := range r.Paths {
		if !strings.HasPrefix(p, "/") || strings.Contains(strings.TrimSuffix(p, "*"), "*") {
			return fmt.Errorf("path %q must start with / and may end in * (a prefix), with no * elsewhere", p)
		}
	}
	for i, m := range r.Methods {
		m = strings.ToUpper(strings.TrimSpace(m))
		if !methodRE.MatchString(m) {
			return fmt.Errorf("method %q is not an HTTP method such as GET", r.Methods[i])
		}
		r.Methods[i] = m
	}
	for _, g := range r.Groups {
		if rules.GroupError(g) != "" {
			return fmt.Errorf("group %q must be 1 to 32 characters of a-z, 0-9, _ and -", g)
		}
	}
	if len(r.Groups) > 0 && (r.Policy == Bypass || r.Policy == Deny) {
		return fmt.Errorf("groups cannot be used with policy %s (it lets everyone through or no one)", r.Policy)
	}
	return nil
}

// Request is the original request a proxy asks about.
type Request struct {
	Method string
	Host   string // may carry a port, which rules ignore
	Path   string // may carry a query, which rules ignore
}

// Subject is who asks: the account signed in with the session, if any.
type Subject struct {
	SignedIn     bool
	Disabled     bool // a disabled account opens nothing (product.md §13)
	SecondFactor bool // the session passed a second factor
	Groups       []string
}

// Outcome is the answer to one request.
type Outcome int

const (
	// Allow lets the request through.
	Allow Outcome = iota
	// SignIn asks the visitor to sign in first.
	SignIn
	// Forbid refuses a signed-in account (or everyone, for deny).
	Forbid
)

func (o Outcome) String() string {
	return [...]string{"allow", "sign-in", "forbid"}[o]
}

// Decide answers a request: the first rule that matches decides, and no
// match denies. It reads nothing but its arguments.
func (rs *Rules) Decide(req Request, who Subject) Outcome {
	host := normalHost(req.Host)
	p, ok := normalPath(req.Path)
	if !ok {
		return Forbid
	}
	method := strings.ToUpper(req.Method)
	for i := range rs.rules {
		r := &rs.rules[i]
		if r.matches(host, p, method) {
			return r.decide(who)
		}
	}
	return Forbid
}

// decide applies a matching rule's policy to who.
func (r *Rule) decide(who Subject) Outcome {
	switch r.Policy {
	case Bypass:
		return Allow
	case Deny:
		return Forbid
	}
	if !who.SignedIn {
		return SignIn
	}
	if who.Disabled {
		return Forbid
	}
	if r.Policy == TwoFactor && !who.SecondFactor {
		return Forbid
	}
	if len(r.Groups) > 0 && !slices.ContainsFunc(who.Groups, func(g string) bool { return slices.Contains(r.Groups, g) }) {
		return Forbid
	}
	return Allow
}

func (r *Rule) matches(host, p, method string) bool {
	if !r.anyHost && !slices.ContainsFunc(r.Hosts, func(h string) bool { return hostMatches(h, host) }) {
		return false
	}
	if len(r.Paths) > 0 && !slices.ContainsFunc(r.Paths, func(rp string) bool { return pathMatches(rp, p) }) {
		return false
	}
	if len(r.Methods) > 0 && !slices.Contains(r.Methods, method) {
		return false
	}
	return true
}

// hostMatches: "*.example.com" matches every name under example.com (not
// example.com itself); anything else matches exactly.
func hostMatches(pattern, host string) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return len(host) > len(suffix) && strings.HasSuffix(host, suffix)
	}
	return pattern == host
}

// pathMatches: "/api/*" matches every path that starts with "/api/";
// anything else matches exactly.
func pathMatches(pattern, p string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(p, prefix)
	}
	return pattern == p
}

// normalHost lowercases a host and drops its port and a trailing dot.
func normalHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.TrimSuffix(h, ".")
}

// normalPath is the path the app will see, as rules are written: without
// the query, percent-decoded, with dot segments and repeated slashes
// resolved (a trailing slash kept). Without this, "/public/../admin"
// would match a bypass rule for "/public/*" and reach /admin. A path that
// does not decode, or holds a NUL, matches no rule.
func normalPath(raw string) (string, bool) {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if raw == "" {
		return "/", true
	}
	p, err := url.PathUnescape(raw)
	if err != nil || strings.ContainsRune(p, 0) || !strings.HasPrefix(p, "/") {
		return "", false
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean, true
}
