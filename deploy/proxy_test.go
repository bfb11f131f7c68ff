// The forward-auth snippets of the README, run: real Caddy and real nginx
// in front of Gatehouse and a small app, on loopback, with the configs
// that the README shows (deploy/forward-auth), changed only in their
// host names and ports (product.md §11).
package deploy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gatehouse/access"
	"gatehouse/handlers"
	"gatehouse/internal/apptest"
)

const password = "correct horse battery"

// rules are the test's access rules: one host per policy.
const rules = `rules:
  - hosts: ["status.gatehouse.test"]
    policy: bypass
  - hosts: ["admin.gatehouse.test"]
    groups: ["admins"]
    policy: signed-in
  - hosts: ["secret.gatehouse.test"]
    policy: deny
  - hosts: ["*.gatehouse.test"]
    policy: signed-in
`

// appHosts are the names the proxy serves the app under.
var appHosts = []string{"app", "status", "admin", "secret"}

// need finds a program, or skips the test (fails it under CI).
func need(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found on PATH; install the Debian package %s to run the proxy tests", name, pkg)
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatal(msg + " (CI is set, so this fails instead of skipping)")
	}
	t.Skip(msg)
	return ""
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// echoApp is the app behind the proxy: it answers the method, the path and
// every header whose name starts with "Remote" (however spelt), one per
// line, "Name: [values]".
func echoApp(t *testing.T) *httptest.Server {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", r.Method, r.URL.RequestURI())
		var names []string
		for name := range r.Header {
			if strings.HasPrefix(strings.ToLower(name), "remote") {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintf(w, "%s: %q\n", name, r.Header[name])
		}
	}))
	t.Cleanup(app.Close)
	return app
}

// proxy is a started reverse proxy.
type proxy struct {
	name string
	port int
}

// process runs a server program until the test ends, then stops it by
// its PID and waits for it. Its output is kept for failure messages.
type process struct {
	cmd *exec.Cmd
	out *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func start(t *testing.T, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), out: &lockedBuffer{}}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
	})
	return p
}

// waitPort waits until something listens on port (a start takes well
// under a second; the bound only ends a test whose server never starts).
func waitPort(t *testing.T, p *process, port int) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if p.cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("%s did not start listening on %d:\n%s", p.cmd.Path, port, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// snippet reads a README snippet of deploy/forward-auth.
func snippet(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("forward-auth", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// replaceAll makes every replacement, and fails the test when one finds
// nothing (the snippet changed under the test).
func replaceAll(t *testing.T, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("the snippet no longer contains %q", pairs[i])
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

// startCaddy runs the README's Caddyfile: example.com names become
// gatehouse.test names on one plain-http port, with Caddy's admin API and
// automatic HTTPS off.
func startCaddy(t *testing.T, port int, gatehouse, app string) proxy {
	bin := need(t, "caddy", "caddy")
	var sites []string
	for _, h := range appHosts {
		sites = append(sites, fmt.Sprintf("http://%s.gatehouse.test:%d", h, port))
	}
	conf := "{\n\tadmin off\n\tauto_https off\n}\n\n" + replaceAll(t, snippet(t, "Caddyfile"),
		"\nauth.example.com {", fmt.Sprintf("\nhttp://auth.gatehouse.test:%d {", port),
		"\napp.example.com {", "\n"+strings.Join(sites, ", ")+" {",
		"127.0.0.1:8080", gatehouse,
		"127.0.0.1:3000", app,
	)
	dir := t.TempDir()
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + dir, "XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir}
	validate := exec.Command(bin, "validate", "--config", file, "--adapter", "caddyfile")
	validate.Env = append(os.Environ(), env...)
	if out, err := validate.CombinedOutput(); err != nil {
		t.Fatalf("caddy validate: %v\n%s\n%s", err, out, conf)
	}
	p := start(t, env, bin, "run", "--config", file, "--adapter", "caddyfile")
	waitPort(t, p, port)
	return proxy{name: "caddy", port: port}
}

// startNginx runs the README's nginx server blocks inside a minimal
// nginx.conf of the test's own (pid, logs and temp files in a temporary
// directory, in the foreground).
func startNginx(t *testing.T, port int, gatehouse, app string) proxy {
	bin := need(t, "nginx", "nginx")
	var names []string
	for _, h := range appHosts {
		names = append(names, h+".gatehouse.test")
	}
	site := replaceAll(t, snippet(t, "nginx.conf"),
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port),
		"server_name auth.example.com;", "server_name auth.gatehouse.test;",
		"server_name app.example.com;", "server_name "+strings.Join(names, " ")+";",
		"127.0.0.1:8080", gatehouse,
		"127.0.0.1:3000", app,
	)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "site.conf"), []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/site.conf;
}
`, dir)
	if os.Geteuid() == 0 {
		// As root, workers would run as nobody, who cannot use the
		// temporary directory.
		main = "user root;\n" + main
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", dir, "-c", conf, "-e", "stderr"}
	if out, err := exec.Command(bin, append([]string{"-t"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, site)
	}
	p := start(t, nil, bin, args...)
	waitPort(t, p, port)
	return proxy{name: "nginx", port: port}
}

// browser is a client that reaches every *.gatehouse.test name at the
// proxy's port, with a cookie jar, following no redirects.
type browser struct {
	*apptest.Client
	t    *testing.T
	port int
}

func (p proxy) browser(t *testing.T) *browser {
	addr := fmt.Sprintf("127.0.0.1:%d", p.port)
	return &browser{Client: apptest.NewClientVia(t, p.url("auth", "/"), addr), t: t, port: p.port}
}

// url is http://HOST.gatehouse.test:PORT + path.
func (p proxy) url(host, path string) string {
	return fmt.Sprintf("http://%s.gatehouse.test:%d%s", host, p.port, path)
}

// do sends a request to an absolute URL; headers are name, value pairs.
func (b *browser) do(method, rawURL string, form url.Values, headers ...string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.Client.Client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

// raw sends a request written out in full to the proxy, as a client may
// that does not build requests the way Go's does.
func (p proxy) raw(t *testing.T, request string) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return r, string(body)
}

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// forged are Remote-* headers a client sends itself, hoping the app
// believes them.
var forged = []string{"Remote-User", "mallory", "Remote-Email", "mallory@evil.example",
	"Remote-Name", "mallory", "Remote-Groups", "admins", "Remote_User", "mallory", "remote_email", "mallory@evil.example"}

// gatehouse starts Gatehouse as the proxy's port will name it.
func gatehouse(t *testing.T, proxyPort int) *apptest.Server {
	rs, err := access.Parse([]byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	return apptest.Start(t, apptest.Options{
		BaseURL: fmt.Sprintf("http://auth.gatehouse.test:%d", proxyPort),
		Configure: func(c *handlers.Config) {
			c.CookieDomain = "gatehouse.test"
			c.AccessRules = rs
		},
	})
}

func TestCaddyForwardAuth(t *testing.T) {
	need(t, "caddy", "caddy")
	testProxy(t, startCaddy)
}

func TestNginxAuthRequest(t *testing.T) {
	need(t, "nginx", "nginx")
	testProxy(t, startNginx)
}

// testProxy runs the flows of product.md §11 through one proxy.
func testProxy(t *testing.T, startProxy func(t *testing.T, port int, gatehouse, app string) proxy) {
	app := echoApp(t)
	// The proxy's port is chosen first: Gatehouse's base URL names it.
	port := freePort(t)
	gh := gatehouse(t, port)
	p := startProxy(t, port, gh.Addr(), strings.TrimPrefix(app.URL, "http://"))

	alice := p.browser(t)
	page := p.url("app", "/wiki/Start?x=1&y=%2F")

	// Signed out, a browser asking for a page is sent to sign in, with
	// the page to come back to.
	r, _ := alice.do("GET", page, nil, "Accept", browserAccept)
	wantSignin := p.url("auth", "/signin?rd="+url.QueryEscape(page))
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != wantSignin {
		t.Fatalf("signed out: %d Location %q, want 302 %q", r.StatusCode, r.Header.Get("Location"), wantSignin)
	}
	r, body := alice.do("GET", r.Header.Get("Location"), nil, "Accept", browserAccept)
	if r.StatusCode != http.StatusOK || !strings.Contains(body, `name="rd" value="`) {
		t.Fatalf("sign-in page through the proxy: %d\n%s", r.StatusCode, body)
	}
	alice.Base = p.url("auth", "")
	alice.Signup("alice", "alice@example.com", password)
	alice.Post("/signout", nil)
	// Sign in with rd: back to the page, with a cookie for the domain.
	r, _ = alice.do("POST", p.url("auth", "/signin"), url.Values{"username": {"alice"}, "password": {password}, "rd": {page}},
		"Origin", p.url("auth", ""))
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != page {
		t.Fatalf("sign-in with rd: %d Location %q, want 303 %q", r.StatusCode, r.Header.Get("Location"), page)
	}
	if c := r.Header.Get("Set-Cookie"); !strings.Contains(c, "Domain=gatehouse.test") {
		t.Fatalf("session cookie without Domain=gatehouse.test: %q", c)
	}
	// The app sees the user, whatever the client claims to be.
	r, body = alice.do("GET", page, nil, append([]string{"Accept", browserAccept}, forged...)...)
	wantApp := "GET /wiki/Start?x=1&y=%2F\n" +
		`Remote-Email: ["alice@example.com"]` + "\n" +
		`Remote-Groups: [""]` + "\n" +
		`Remote-Name: ["alice"]` + "\n" +
		`Remote-User: ["alice"]` + "\n"
	if r.StatusCode != http.StatusOK || !sameApp(body, wantApp) {
		t.Fatalf("signed in: %d, the app saw:\n%s\nwant:\n%s", r.StatusCode, body, wantApp)
	}
	// A form posted to the app from its own page passes too (nginx's
	// subrequest brings the POST and the app's Origin to Gatehouse).
	r, body = alice.do("POST", p.url("app", "/save"), url.Values{"a": {"b"}}, "Origin", p.url("app", ""), "Sec-Fetch-Site", "same-origin")
	if r.StatusCode != http.StatusOK || !strings.Contains(body, `Remote-User: ["alice"]`) {
		t.Fatalf("POST signed in: %d\n%s", r.StatusCode, body)
	}

	// Rules: bypass lets anyone through, with no Remote-* for a
	// signed-out visitor (and none of the client's); deny and a missing
	// group refuse.
	stranger := p.browser(t)
	r, body = stranger.do("GET", p.url("status", "/"), nil, append([]string{"Accept", browserAccept}, forged...)...)
	if r.StatusCode != http.StatusOK || !sameApp(body, "GET /\n") {
		t.Fatalf("bypass signed out: %d, the app saw:\n%s", r.StatusCode, body)
	}
	r, body = alice.do("GET", p.url("status", "/"), nil, forged...)
	if r.StatusCode != http.StatusOK || !strings.Contains(body, `Remote-User: ["alice"]`) || strings.Contains(body, "mallory") {
		t.Fatalf("bypass signed in: %d, the app saw:\n%s", r.StatusCode, body)
	}
	// A request line may name its host itself (absolute form), and the
	// proxy serves the host it names whatever the Host header says: the
	// check is about that host, so a Host header naming a bypass host
	// does not open the app.
	r, body = p.raw(t, "GET "+p.url("app", "/wiki/Start")+" HTTP/1.1\r\n"+
		"Host: "+strings.TrimPrefix(p.url("status", ""), "http://")+"\r\n"+
		"Accept: "+browserAccept+"\r\nConnection: close\r\n\r\n")
	if r.StatusCode != http.StatusFound || strings.Contains(body, "/wiki/Start\n") {
		t.Fatalf("absolute request line for the app, Host of a bypass host: %d, the app saw:\n%s", r.StatusCode, body)
	}
	if r, _ = alice.do("GET", p.url("secret", "/"), nil, "Accept", browserAccept); r.StatusCode != http.StatusForbidden {
		t.Fatalf("deny: %d", r.StatusCode)
	}
	if r, _ = alice.do("GET", p.url("admin", "/"), nil, "Accept", browserAccept); r.StatusCode != http.StatusForbidden {
		t.Fatalf("not in the rule's group: %d", r.StatusCode)
	}
	// In the group (set as `gatehouse user groups` does), the next request
	// passes, with the groups.
	u, err := gh.Store.UserByUsername(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := gh.Store.SetGroups(t.Context(), u.ID, []string{"admins", "family"}); err != nil {
		t.Fatal(err)
	}
	r, body = alice.do("GET", p.url("admin", "/"), nil, forged...)
	if r.StatusCode != http.StatusOK || !strings.Contains(body, `Remote-Groups: ["admins,family"]`) || strings.Contains(body, "mallory") {
		t.Fatalf("in the rule's group: %d, the app saw:\n%s", r.StatusCode, body)
	}

	// Revocation from another browser applies at the next request.
	other := p.browser(t)
	other.Base = p.url("auth", "")
	other.Signin("alice", password)
	if r, _ = other.do("GET", page, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("second session: %d", r.StatusCode)
	}
	if r := alice.Post("/account/sessions/revoke", url.Values{"id": {"others"}}, "Origin", p.url("auth", "")); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.StatusCode)
	}
	if r, _ = other.do("GET", page, nil, "Accept", browserAccept); r.StatusCode != http.StatusFound {
		t.Fatalf("revoked session: %d, want 302 to sign-in", r.StatusCode)
	}
	// Sign-out applies at the next request.
	if r, _ = alice.do("GET", page, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("before sign-out: %d", r.StatusCode)
	}
	alice.Post("/signout", nil, "Origin", p.url("auth", ""))
	if r, _ = alice.do("GET", page, nil, "Accept", browserAccept); r.StatusCode != http.StatusFound ||
		!strings.HasPrefix(r.Header.Get("Location"), p.url("auth", "/signin?rd=")) {
		t.Fatalf("after sign-out: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

// sameApp compares what the app saw with what it should see, taking a
// header with an empty value as no header (product.md §11: a header the
// answer lacks, or an empty Remote-Groups, reaches the app empty or not
// at all; nginx sends no empty header).
func sameApp(got, want string) bool {
	return dropEmpty(got) == dropEmpty(want)
}

func dropEmpty(s string) string {
	var kept []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasSuffix(l, `: [""]`+"\n") {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "")
}

// The README shows the snippets the tests run, verbatim, and the rules
// file it shows is valid.
func TestReadmeShowsTheSnippets(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Caddyfile", "nginx.conf", "compose.traefik.yaml", "rules.yaml"} {
		if !strings.Contains(string(readme), "```"+map[string]string{
			"Caddyfile": "caddyfile", "nginx.conf": "nginx", "compose.traefik.yaml": "yaml", "rules.yaml": "yaml",
		}[name]+"\n"+snippet(t, name)+"```\n") {
			t.Errorf("README.md does not show deploy/forward-auth/%s verbatim", name)
		}
	}
	if _, err := access.Load(filepath.Join("forward-auth", "rules.yaml")); err != nil {
		t.Errorf("the README's rules file: %v", err)
	}
}
