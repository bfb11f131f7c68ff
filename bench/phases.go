package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"gatehouse/password"
	"gatehouse/views"
)

// bench holds one run's state: the binaries, the temporary directory and
// the servers still running.
type bench struct {
	o       options
	dir     string
	bin     string // gatehouse
	self    string // this tool, which doubles as the baseline server
	rep     *report
	mu      sync.Mutex
	running []*process

	main   *process // the Gatehouse server of the page, sign-in and sign-up steps
	mainDB string
	cookie string // the bench account's session on main
}

const (
	benchUser     = "benchuser"
	benchPassword = "a long bench passphrase 42"
	mib           = 1024.0
)

func (b *bench) start(name string, args []string, ready string) (*process, error) {
	p, err := startProcess(b.bin, args, ready, filepath.Join(b.dir, name+".log"), nil)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.running = append(b.running, p)
	b.mu.Unlock()
	return p, nil
}

func (b *bench) stop(p *process) {
	p.stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.running = slices.DeleteFunc(b.running, func(q *process) bool { return q == p })
}

func (b *bench) stopAll() {
	for _, p := range slices.Clone(b.running) {
		b.stop(p)
	}
}

func serveArgs(dbPath string) []string {
	return []string{"serve", "-addr", "ADDR", "-db", dbPath}
}

// coldStart starts Gatehouse on a new database several times and measures
// exec-to-first-answer (GET /healthz 200, which queries the database), then
// its resident memory after it has sat idle for a second.
func (b *bench) coldStart(ctx context.Context) error {
	var starts []time.Duration
	var rss []int64
	for i := range b.o.starts {
		p, err := b.start(fmt.Sprintf("cold%d", i), serveArgs(filepath.Join(b.dir, fmt.Sprintf("cold%d.db", i))), "/healthz")
		if err != nil {
			return err
		}
		starts = append(starts, p.ready)
		waitCtx(ctx, time.Second)
		kb, err := memKiB(p.pid(), "VmRSS")
		b.stop(p)
		if err != nil {
			return err
		}
		rss = append(rss, kb)
	}
	slices.Sort(starts)
	slices.Sort(rss)
	med := starts[len(starts)/2]
	b.rep.below("cold start to first answer (median)", ms(med), "ms", 100,
		fmt.Sprintf("%d starts on a new database, min %.1f ms, max %.1f ms", len(starts), ms(starts[0]), ms(starts[len(starts)-1])))
	b.rep.below("idle memory (RSS, worst start)", float64(rss[len(rss)-1])/mib, "MiB", 30,
		fmt.Sprintf("VmRSS 1 s after the first answer; best %.1f MiB", float64(rss[0])/mib))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// signUp creates an account through the real form and returns the
// session cookie it set.
func signUp(ctx context.Context, c *http.Client, base, user, pw string) (string, error) {
	form := url.Values{"username": {user}, "email": {user + "@example.com"}, "password": {pw}, "password_confirm": {pw}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/signup", bytes.NewBufferString(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("sign-up %s: status %d", user, resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "session" {
			return ck.Value, nil
		}
	}
	return "", fmt.Errorf("sign-up %s: no session cookie", user)
}

func get(c *http.Client, target, cookie string) ([]byte, int, error) {
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	if cookie != "" {
		req.Header.Set("Cookie", "session="+cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return body, resp.StatusCode, err
}

// mainServer starts the Gatehouse that the page, sign-in and sign-up
// steps share, and signs up the bench account on it. It trusts
// X-Forwarded-For from loopback, as behind a reverse proxy, so that the
// sign-in steps can come from many client addresses: from one address,
// the sign-in throttle (10 attempts in flight, product.md §6) would
// rightly answer most of a flood with 429.
func (b *bench) mainServer(ctx context.Context) error {
	if b.main != nil {
		return nil
	}
	b.mainDB = filepath.Join(b.dir, "main.db")
	gh, err := b.start("gatehouse", mainArgs(b.mainDB), "/healthz")
	if err != nil {
		return err
	}
	b.main = gh
	client := &http.Client{Transport: newTransport(1), CheckRedirect: noRedirect, Timeout: time.Minute}
	b.cookie, err = signUp(ctx, client, gh.url, benchUser, benchPassword)
	return err
}

func mainArgs(dbPath string) []string {
	return append(serveArgs(dbPath), "-trusted-proxies", "127.0.0.1")
}

// clientAddr is the made-up address of visitor i, sent as X-Forwarded-For.
func clientAddr(i int64) string {
	return fmt.Sprintf("10.%d.%d.%d", (i>>16)&0xff, (i>>8)&0xff, i&0xff)
}

// dashboard compares signed-in GET /dashboard with the baseline: same
// client, same concurrency, same keep-alive connections, same cookie
// header, the same HTML, in alternating rounds (B G, G B, B G, ...) so
// that drift in the machine's speed hits both alike.
func (b *bench) dashboard(ctx context.Context) error {
	if err := b.mainServer(ctx); err != nil {
		return err
	}
	gh, cookie := b.main, b.cookie
	client := &http.Client{Transport: newTransport(b.o.conc), CheckRedirect: noRedirect, Timeout: time.Minute}
	body, status, err := get(client, gh.url+"/api/me", cookie)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("GET /api/me: %d %v", status, err)
	}
	var me struct {
		ID               int64     `json:"id"`
		Username         string    `json:"username"`
		Email            string    `json:"email"`
		CreatedAt        time.Time `json:"created_at"`
		SessionExpiresAt time.Time `json:"session_expires_at"`
	}
	if err := json.Unmarshal(body, &me); err != nil {
		return err
	}
	// The data Gatehouse's dashboard handler builds for this user.
	data, _ := json.Marshal(views.Data{
		Title:   "Dashboard",
		Account: &views.Account{ID: me.ID, Username: me.Username, Email: me.Email, CreatedAt: me.CreatedAt},
		Private: true,
		Session: views.SessionInfo{ExpiresAt: me.SessionExpiresAt, Idle: 168 * time.Hour},
	})
	base, err := startProcess(b.self, []string{"-baseline-addr", "ADDR", "-baseline-data", string(data)},
		"/healthz", filepath.Join(b.dir, "baseline.log"), nil)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.running = append(b.running, base)
	b.mu.Unlock()
	defer b.stop(base)

	ghBody, st1, err1 := get(client, gh.url+"/dashboard", cookie)
	baseBody, st2, err2 := get(client, base.url+"/dashboard", cookie)
	if err := errors.Join(err1, err2); err != nil || st1 != 200 || st2 != 200 {
		return fmt.Errorf("first GET /dashboard: gatehouse %d, baseline %d, %v", st1, st2, err)
	}
	same := "identical HTML"
	if !bytes.Equal(ghBody, baseBody) {
		same = fmt.Sprintf("HTML differs: gatehouse %d B, baseline %d B", len(ghBody), len(baseBody))
	}

	cookieOf := func(int64) string { return cookie }
	// Warm both: connections open, pools filled, code paged in.
	getLoad(client, gh.pid(), gh.url+"/dashboard", b.o.conc, b.o.dur/4, cookieOf)
	getLoad(client, base.pid(), base.url+"/dashboard", b.o.conc, b.o.dur/4, cookieOf)
	var ghRes, baseRes loadResult
	var ratios []float64 // of each pair of adjacent rounds
	for r := range b.o.rounds {
		var g, bl loadResult
		runG := func() { g = getLoad(client, gh.pid(), gh.url+"/dashboard", b.o.conc, b.o.dur, cookieOf) }
		runB := func() { bl = getLoad(client, base.pid(), base.url+"/dashboard", b.o.conc, b.o.dur, cookieOf) }
		if r%2 == 0 {
			runB()
			runG()
		} else {
			runG()
			runB()
		}
		ghRes.add(g)
		baseRes.add(bl)
		ratios = append(ratios, g.rps()/bl.rps())
	}
	slices.Sort(ratios)
	ghRes.sort()
	baseRes.sort()
	if ghRes.Errors+baseRes.Errors > 0 {
		return fmt.Errorf("dashboard load: %d gatehouse errors, %d baseline errors", ghRes.Errors, baseRes.Errors)
	}
	how := fmt.Sprintf("%d clients, keep-alive, %d×%s alternating", b.o.conc, b.o.rounds, b.o.dur)
	b.rep.info("baseline GET /dashboard throughput", baseRes.rps(), "req/s",
		fmt.Sprintf("bare Gin + same template; %s; %d B body", how, baseRes.Bytes))
	b.rep.info("baseline latency p50 / p99", ms(percentile(baseRes.Latencies, 0.5)), "ms",
		fmt.Sprintf("p99 %.2f ms", ms(percentile(baseRes.Latencies, 0.99))))
	b.rep.info("Gatehouse signed-in GET /dashboard throughput", ghRes.rps(), "req/s",
		fmt.Sprintf("%s; %d B body; %s", how, ghRes.Bytes, same))
	b.rep.info("Gatehouse latency p50 / p99", ms(percentile(ghRes.Latencies, 0.5)), "ms",
		fmt.Sprintf("p99 %.2f ms", ms(percentile(ghRes.Latencies, 0.99))))
	b.rep.info("server CPU per request: Gatehouse / baseline", perReq(ghRes), "µs",
		fmt.Sprintf("baseline %.1f µs (from /proc, user+system)", perReq(baseRes)))
	b.rep.info("load generator CPU per request: Gatehouse / baseline", clientPerReq(ghRes), "µs",
		fmt.Sprintf("baseline %.1f µs; the client shares the machine's cores with the server", clientPerReq(baseRes)))
	// The median of the pairs' ratios: a burst of other work on the machine
	// spoils one pair, not the verdict. The pooled ratio is shown beside it.
	b.rep.atLeast("signed-in page throughput / baseline", ratios[len(ratios)/2], "", 0.5,
		fmt.Sprintf("product.md §9; median of %d round pairs (%s), pooled %.3f", len(ratios), joinNums(ratios), ghRes.rps()/baseRes.rps()))
	return nil
}

func clientPerReq(l loadResult) float64 {
	if l.Requests == 0 {
		return 0
	}
	return float64(l.ClientCPU.Microseconds()) / float64(l.Requests)
}

func perReq(l loadResult) float64 {
	if l.Requests == 0 {
		return 0
	}
	return float64(l.ServerCPU.Microseconds()) / float64(l.Requests)
}

// signinRate compares successful sign-ins per second with argon2id hashes
// per second computed here with the same parameters (password.OWASP) and
// the same parallelism (one hash per CPU, as the server's hasher allows),
// in alternating rounds while the other side is idle.
func (b *bench) signinRate(ctx context.Context) error {
	if err := b.mainServer(ctx); err != nil {
		return err
	}
	gh := b.main
	// Enough clients to keep the server's hash slots busy between requests;
	// each request from another address, so the per-address throttle,
	// which counts attempts in flight, does not refuse them. They all sign
	// in to the bench account: its own limit counts only failures.
	workers := 4 * runtime.NumCPU()
	client := &http.Client{Transport: newTransport(workers), CheckRedirect: noRedirect, Timeout: time.Minute}
	form := url.Values{"username": {benchUser}, "password": {benchPassword}}.Encode()
	mk := func(n int64) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, gh.url+"/signin", bytes.NewBufferString(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", clientAddr(n))
		return req
	}
	closedLoop(client, gh.pid(), workers, b.o.dur/4, http.StatusSeeOther, mk) // warm-up
	// Twice as many pairs of half the length as the other steps: the
	// two sides cannot run at once, and on a shared machine the CPU left
	// to them changes from second to second.
	var raw, hashes float64
	var rawCPU time.Duration
	var signin loadResult
	var ratios []float64
	for range 2 * b.o.rounds {
		own0, _ := cpuTime(os.Getpid())
		n, d := rawHashes(runtime.NumCPU(), b.o.dur/2)
		own1, _ := cpuTime(os.Getpid())
		hashes += float64(n)
		raw += d.Seconds()
		rawCPU += own1 - own0
		res := closedLoop(client, gh.pid(), workers, b.o.dur/2, http.StatusSeeOther, mk)
		signin.add(res)
		ratios = append(ratios, res.rps()/(float64(n)/d.Seconds()))
	}
	slices.Sort(ratios)
	if signin.Errors > 0 {
		return fmt.Errorf("sign-in load: %d answers were not 303", signin.Errors)
	}
	rawRate := hashes / raw
	b.rep.info("raw argon2id hash rate", rawRate, "hash/s",
		fmt.Sprintf("m=%d KiB t=%d p=%d, %d goroutines", password.OWASP.Memory, password.OWASP.Time, password.OWASP.Threads, runtime.NumCPU()))
	signin.sort()
	b.rep.info("sign-in throughput", signin.rps(), "req/s",
		fmt.Sprintf("POST /signin → 303, %d clients; p50 %.0f ms", workers, ms(percentile(signin.Latencies, 0.5))))
	// CPU seconds per hash against the server's CPU seconds per sign-in:
	// what the ratio would be if both had the cores to themselves.
	if signin.ServerCPU > 0 && hashes > 0 {
		b.rep.info("CPU per sign-in / CPU per raw hash", (signin.ServerCPU.Seconds()/float64(signin.Requests))/(rawCPU.Seconds()/hashes), "",
			fmt.Sprintf("server %.1f ms per sign-in, %.1f ms per raw hash (from /proc)",
				1000*signin.ServerCPU.Seconds()/float64(signin.Requests), 1000*rawCPU.Seconds()/hashes))
	}
	b.rep.atLeast("sign-in throughput / raw hash rate", ratios[len(ratios)/2], "", 0.9,
		fmt.Sprintf("product.md §9; median of %d round pairs (%s), pooled %.3f", len(ratios), joinNums(ratios), signin.rps()/rawRate))
	return nil
}

// rawHashes computes argon2id hashes on `par` goroutines for d and returns
// how many finished and how long it took.
func rawHashes(par int, d time.Duration) (int64, time.Duration) {
	p := password.OWASP
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(d)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				argon2.IDKey([]byte(benchPassword), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return n.Load(), time.Since(start)
}

const burstUsers = 500

func burstName(i int) string { return fmt.Sprintf("burst%03d", i) }
func burstPassword(i int) string {
	return fmt.Sprintf("burst passphrase number %03d", i)
}

// signups sends 500 sign-up forms at once, each from its own connection,
// then counts the accounts in the database file.
func (b *bench) signups(ctx context.Context) error {
	if err := b.mainServer(ctx); err != nil {
		return err
	}
	gh := b.main
	statuses, errs, took := burst(burstUsers, func(i int, c *http.Client) (int, error) {
		pw := burstPassword(i)
		return postForm(ctx, c, gh.url+"/signup", url.Values{"username": {burstName(i)},
			"email": {burstName(i) + "@example.com"}, "password": {pw}, "password_confirm": {pw}})
	})
	bad := burstUsers - statuses[http.StatusSeeOther]
	n, err := countUsers(b.mainDB, "burst%")
	if err != nil {
		return err
	}
	b.rep.info("500 concurrent sign-ups: time", took.Seconds(), "s", describe(statuses, errs))
	b.rep.exactly("500 concurrent sign-ups: errors", float64(bad), "", 0, "answers other than 303 /dashboard")
	b.rep.exactly("500 concurrent sign-ups: accounts present", float64(n), "", burstUsers, "counted in the database file")
	return nil
}

// burstAccounts lists the numbers of the sign-up burst's accounts present
// in the database file.
func burstAccounts(path string) ([]int, error) {
	var out []int
	for i := range burstUsers {
		n, err := countUsers(path, burstName(i))
		if err != nil {
			return nil, err
		}
		if n == 1 {
			out = append(out, i)
		}
	}
	return out, nil
}

// countUsers reads the database file, as another process would.
func countUsers(path, like string) (int, error) {
	conn, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var n int
	err = conn.QueryRow(`SELECT count(*) FROM users WHERE username LIKE ?`, like).Scan(&n)
	return n, err
}

// signinFlood restarts the server (so VmHWM counts this flood only) and
// sends 1,000 sign-ins at once, each from its own connection and address,
// to the accounts made by the sign-up burst.
func (b *bench) signinFlood(ctx context.Context) error {
	if err := b.mainServer(ctx); err != nil {
		return err
	}
	// The accounts the sign-up burst made: all 500 when it passed, fewer
	// when the server turned some away. Each gets its share of the flood;
	// the per-account throttle allows 10 attempts in flight.
	accounts, err := burstAccounts(b.mainDB)
	if err != nil {
		return err
	}
	if len(accounts) < 100 {
		return fmt.Errorf("the flood needs at least 100 accounts from the sign-up step, found %d", len(accounts))
	}
	b.stop(b.main)
	gh, err := b.start("gatehouse-flood", mainArgs(b.mainDB), "/healthz")
	if err != nil {
		b.main = nil
		return err
	}
	b.main = gh
	b.rep.info("restart to first answer, existing database", ms(gh.ready), "ms", "the server of this step, on the database of the steps before")
	waitCtx(ctx, time.Second)
	before, _ := memKiB(gh.pid(), "VmRSS")
	const flood = 1000
	statuses, errs, took := burst(flood, func(i int, c *http.Client) (int, error) {
		u := accounts[i%len(accounts)]
		return postForm(ctx, c, gh.url+"/signin", url.Values{"username": {burstName(u)}, "password": {burstPassword(u)}},
			"X-Forwarded-For", clientAddr(int64(i)))
	})
	hwm, err := memKiB(gh.pid(), "VmHWM")
	if err != nil {
		return err
	}
	// §9 sets no target on how many finish: with one hash per core, the
	// last ones would wait about 1,000 / (hash rate) seconds; the server
	// turns away those that wait longer than its hash wait bound with 503
	// and Retry-After.
	b.rep.info("1,000 concurrent sign-ins: time", took.Seconds(), "s", describe(statuses, errs))
	b.rep.info("1,000 concurrent sign-ins: not signed in", float64(flood-statuses[http.StatusSeeOther]), "",
		"answers other than 303 (503: turned away by the hashing queue's wait bound); no §9 target")
	b.rep.below("peak memory under 1,000 concurrent sign-ins", float64(hwm)/mib, "MiB", 256,
		fmt.Sprintf("VmHWM of a freshly started server; %.1f MiB before the flood", float64(before)/mib))
	waitCtx(ctx, 2*time.Second)
	if after, err := memKiB(gh.pid(), "VmRSS"); err == nil {
		b.rep.info("memory 2 s after the flood", float64(after)/mib, "MiB", "VmRSS")
	}
	return nil
}

// scale seeds a small and a large database straight through SQLite and
// compares signed-in page latency on them: one client (service time, no
// queueing) alternating between the two servers request by request, each
// request with another seeded session, picked across the whole table so
// the large one's pages are not all cached.
func (b *bench) scale(ctx context.Context) error {
	hasher := password.NewHasher(password.OWASP, 1)
	phc, err := hasher.Hash(ctx, benchPassword)
	if err != nil {
		return err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	const small = 1000
	large := b.o.users
	type side struct {
		n      int64
		path   string
		p      *process
		client *http.Client
		res    loadResult
	}
	sides := []*side{{n: small}, {n: large}}
	for _, s := range sides {
		s.path = filepath.Join(b.dir, fmt.Sprintf("scale%d.db", s.n))
		t0 := time.Now()
		if err := seed(ctx, s.path, s.n, phc, secret, time.Hour); err != nil {
			return fmt.Errorf("seed %d: %w", s.n, err)
		}
		logf("seeded %d users and sessions in %s", s.n, time.Since(t0).Round(time.Millisecond))
		if s.n == large {
			b.rep.info("seeding the large database", time.Since(t0).Seconds(), "s", fmt.Sprintf("%d users + %d sessions", s.n, s.n))
		}
		if s.p, err = b.start(fmt.Sprintf("scale%d", s.n), serveArgs(s.path), "/healthz"); err != nil {
			return err
		}
		defer b.stop(s.p)
	}
	// One client alternates request by request between the two servers,
	// so a burst of other work on the machine slows both alike.
	for _, s := range sides {
		s.client = &http.Client{Transport: newTransport(1), CheckRedirect: noRedirect, Timeout: time.Minute}
	}
	var ratios []float64
	for r := range b.o.rounds + 1 {
		d := b.o.dur
		if r == 0 {
			d = b.o.dur / 4 // warm-up, not counted
		}
		round := make([]loadResult, len(sides))
		stop := time.Now().Add(2 * d)
		for i := int64(0); time.Now().Before(stop); i++ {
			s := sides[i%2]
			// A multiplicative walk over 1..n: every request another session.
			cookie := seedToken(secret, ((i/2)*2654435761)%s.n+1)
			t0 := time.Now()
			_, status, err := get(s.client, s.p.url+"/dashboard", cookie)
			if err != nil || status != http.StatusOK {
				return fmt.Errorf("%d users: GET /dashboard with a seeded session: %d %v", s.n, status, err)
			}
			round[i%2].Requests++
			round[i%2].Latencies = append(round[i%2].Latencies, time.Since(t0))
		}
		if r == 0 {
			continue
		}
		for j, s := range sides {
			round[j].sort()
			s.res.add(round[j])
		}
		ratios = append(ratios, float64(percentile(round[1].Latencies, 0.5))/float64(percentile(round[0].Latencies, 0.5)))
	}
	slices.Sort(ratios)
	for _, s := range sides {
		s.res.sort()
	}
	p50 := func(s *side) float64 { return ms(percentile(s.res.Latencies, 0.5)) }
	p99 := func(s *side) float64 { return ms(percentile(s.res.Latencies, 0.99)) }
	b.rep.info(fmt.Sprintf("page latency p50, %d users/sessions", small), p50(sides[0]), "ms",
		fmt.Sprintf("p99 %.2f ms; 1 client alternating between the two, a different session each request", p99(sides[0])))
	b.rep.info(fmt.Sprintf("page latency p50, %d users/sessions", large), p50(sides[1]), "ms",
		fmt.Sprintf("p99 %.2f ms", p99(sides[1])))
	b.rep.atMost(fmt.Sprintf("latency p50 ratio %d / %d", large, small), ratios[len(ratios)/2], "", 1.2,
		fmt.Sprintf("product.md §9; median of %d rounds (%s), pooled %.3f", len(ratios), joinNums(ratios), p50(sides[1])/p50(sides[0])))
	return nil
}

func joinNums(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = num(x)
	}
	return strings.Join(parts, ", ")
}
