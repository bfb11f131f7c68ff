package access

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// specExample is the file of product.md §11.
const specExample = `rules:
  - hosts: ["status.example.com"]         # exact host, or "*.example.com" for subdomains
    policy: bypass                         # bypass | signed-in | two-factor | deny
  - hosts: ["grafana.example.com"]
    groups: ["admins"]                     # optional: must be in one of these
    policy: two-factor
  - hosts: ["*.example.com"]
    paths: ["/api/*"]                      # optional: exact path, or a prefix ending in *
    methods: ["GET", "HEAD"]               # optional
    policy: signed-in
`

func TestDecide(t *testing.T) {
	rules, err := Parse([]byte(specExample + `  - hosts: ["wiki.example.com"]
    paths: ["/public/*", "/about"]
    policy: bypass
  - hosts: ["wiki.example.com", "media.example.com"]
    groups: ["family", "friends"]
    policy: signed-in
  - hosts: ["secret.example.com"]
    policy: deny
`))
	if err != nil {
		t.Fatal(err)
	}
	out := Subject{}
	alice := Subject{SignedIn: true}
	alice2FA := Subject{SignedIn: true, SecondFactor: true}
	admin := Subject{SignedIn: true, Groups: []string{"admins"}}
	admin2FA := Subject{SignedIn: true, SecondFactor: true, Groups: []string{"family", "admins"}}
	family := Subject{SignedIn: true, Groups: []string{"family"}}
	disabled := Subject{SignedIn: true, Disabled: true, SecondFactor: true, Groups: []string{"admins", "family"}}

	cases := []struct {
		name   string
		method string
		host   string
		path   string
		who    Subject
		want   Outcome
	}{
		{"bypass signed out", "GET", "status.example.com", "/", out, Allow},
		{"bypass signed in", "POST", "status.example.com", "/x", alice, Allow},
		{"bypass disabled", "GET", "status.example.com", "/", disabled, Allow},
		{"host case and port ignored", "GET", "Status.Example.COM:8443", "/", out, Allow},
		{"trailing dot ignored", "GET", "status.example.com.", "/", out, Allow},
		{"two-factor signed out", "GET", "grafana.example.com", "/", out, SignIn},
		{"two-factor without the group", "GET", "grafana.example.com", "/", alice2FA, Forbid},
		{"two-factor group without second factor", "GET", "grafana.example.com", "/", admin, Forbid},
		{"two-factor group and second factor", "GET", "grafana.example.com", "/d/1?x=y", admin2FA, Allow},
		{"disabled refused", "GET", "grafana.example.com", "/", disabled, Forbid},
		{"wildcard path method signed in", "GET", "app.example.com", "/api/items", alice, Allow},
		{"wildcard deeper subdomain", "HEAD", "a.b.example.com", "/api/", alice, Allow},
		{"wildcard signed out", "GET", "app.example.com", "/api/items", out, SignIn},
		{"method not listed: no match denies", "POST", "app.example.com", "/api/items", alice, Forbid},
		{"method case ignored", "get", "app.example.com", "/api/items", alice, Allow},
		{"path prefix needs the slash", "GET", "app.example.com", "/api", alice, Forbid},
		{"path outside prefix: no match denies", "GET", "app.example.com", "/admin", alice, Forbid},
		{"wildcard does not match the bare domain", "GET", "example.com", "/api/x", alice, Forbid},
		{"wildcard does not match a longer name", "GET", "app.notexample.com", "/api/x", alice, Forbid},
		{"unknown host denies", "GET", "other.org", "/", admin2FA, Forbid},
		{"path bypass exact", "GET", "wiki.example.com", "/about", out, Allow},
		{"path bypass exact only", "GET", "wiki.example.com", "/about/team", out, SignIn},
		{"path bypass prefix", "GET", "wiki.example.com", "/public/logo.png", out, Allow},
		{"dot segments resolved before matching", "GET", "wiki.example.com", "/public/../private", out, SignIn},
		{"encoded dot segments resolved", "GET", "wiki.example.com", "/public/%2e%2e/private", out, SignIn},
		{"repeated slashes resolved", "GET", "wiki.example.com", "//public//logo.png", out, Allow},
		{"undecodable path matches nothing", "GET", "wiki.example.com", "/public/%zz", out, Forbid},
		{"NUL matches nothing", "GET", "wiki.example.com", "/public/%00", out, Forbid},
		{"empty path is /", "GET", "status.example.com", "", out, Allow},
		{"groups: one of them", "GET", "media.example.com", "/", family, Allow},
		{"groups: none of them", "GET", "media.example.com", "/", admin, Forbid},
		{"groups: signed out", "GET", "media.example.com", "/", out, SignIn},
		{"deny signed in", "GET", "secret.example.com", "/", admin2FA, Forbid},
		{"deny signed out", "GET", "secret.example.com", "/", out, Forbid},
	}
	for _, c := range cases {
		got := rules.Decide(Request{Method: c.method, Host: c.host, Path: c.path}, c.who)
		if got != c.want {
			t.Errorf("%s: %s %s%s: got %v, want %v", c.name, c.method, c.host, c.path, got, c.want)
		}
	}
}

func TestDefaultIsSignedInEverywhere(t *testing.T) {
	d := Default()
	for _, c := range []struct {
		who  Subject
		want Outcome
	}{
		{Subject{}, SignIn},
		{Subject{SignedIn: true}, Allow},
		{Subject{SignedIn: true, Disabled: true}, Forbid},
	} {
		if got := d.Decide(Request{Method: "DELETE", Host: "anything.example.org", Path: "/x"}, c.who); got != c.want {
			t.Errorf("%+v: got %v, want %v", c.who, got, c.want)
		}
	}
}

func TestParseErrorsNameTheRuleAndProblem(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"empty", "", "empty"},
		{"no rules", "rules: []\n", "no rules"},
		{"unknown top-level key", "rule:\n  - hosts: [a.example.com]\n    policy: deny\n", `unknown field "rule"`},
		{"unknown key in a rule", "rules:\n  - hosts: [a.example.com]\n    policy: deny\n  - hosts: [b.example.com]\n    grups: [x]\n    policy: signed-in\n", `rule 2: unknown field "grups"`},
		{"unknown policy", "rules:\n  - hosts: [a.example.com]\n    policy: allow\n", `rule 1: unknown policy "allow"`},
		{"missing policy", "rules:\n  - hosts: [a.example.com]\n", "rule 1: policy is missing"},
		{"missing hosts", "rules:\n  - policy: deny\n", "rule 1: hosts is missing"},
		{"host with scheme", "rules:\n  - hosts: [\"https://a.example.com\"]\n    policy: deny\n", `rule 1: host "https://a.example.com"`},
		{"host with port", "rules:\n  - hosts: [\"a.example.com:443\"]\n    policy: deny\n", `rule 1: host "a.example.com:443"`},
		{"wildcard in the middle", "rules:\n  - hosts: [\"a.*.example.com\"]\n    policy: deny\n", `rule 1: host "a.*.example.com"`},
		{"bad path", "rules:\n  - hosts: [a.example.com]\n    paths: [api/*]\n    policy: deny\n", `rule 1: path "api/*"`},
		{"star inside a path", "rules:\n  - hosts: [a.example.com]\n    paths: [\"/a/*/b\"]\n    policy: deny\n", `rule 1: path "/a/*/b"`},
		{"bad method", "rules:\n  - hosts: [a.example.com]\n    methods: [\"GET /\"]\n    policy: deny\n", `rule 1: method "GET /"`},
		{"bad group", "rules:\n  - hosts: [a.example.com]\n    groups: [Admins]\n    policy: signed-in\n", `rule 1: group "Admins"`},
		{"groups with bypass", "rules:\n  - hosts: [a.example.com]\n    groups: [admins]\n    policy: bypass\n", "rule 1: groups cannot be used with policy bypass"},
		{"wrong type", "rules:\n  - hosts: a.example.com\n    policy: deny\n", "rule 1: string was used where sequence is expected"},
		{"not YAML", "rules: [\n", "line"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.yaml))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %q, want one line containing %q", c.name, err, c.want)
		}
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(name, []byte("rules:\n  - hosts: [a.example.com]\n    policy: allow\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(name)
	want := "access rules " + name + `: rule 1: unknown policy "allow"`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want %q...", err, want)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || err.Error() != "access rules "+filepath.Join(dir, "missing.yaml")+": no such file or directory" {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(name, []byte(specExample), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(name); err != nil {
		t.Fatalf("the spec's example: %v", err)
	}
}
