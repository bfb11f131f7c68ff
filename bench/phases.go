package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
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
)

// bench holds one run's state: the binaries, the temporary directory and
// the servers still running.
type bench struct {
	o       options
	dir     string
	bin     string // gatehouse
	mainBin string // gatehouse for the main server: bin, or with the profiling hook for -cpuprofile
	self    string // this tool, which doubles as the baseline and ceiling servers
	rep     *report
	mu      sync.Mutex
	running []*process

	main   *process // the Gatehouse server of the page, sign-in and sign-up steps
	mainDB string
	svc    *services // PostgreSQL and Redis with -backend postgres+redis
	cookie string    // the bench account's session on main
}

const (
	benchUser     = "benchuser"
	benchPassword = "a long bench passphrase 42"
	mib           = 1024.0
)

func (b *bench) start(name string, args []string, ready string) (*process, error) {
	return b.startBin(b.bin, name, args, nil)
}

// startBin starts bin as a server named name (its log is name.log) and
// waits for /healthz.
func (b *bench) startBin(bin, name string, args, env []string) (*process, error) {
	p, err := startProcess(bin, args, "/healthz", filepath.Join(b.dir, name+".log"), env)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.running = append(b.running, p)
	b.mu.Unlock()
	return p, nil
}

// startHelper runs this tool as one of the comparison's other servers.
func (b *bench) startHelper(name string, args []string) (*process, error) {
	return b.startBin(b.self, name, args, nil)
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

// coldStart starts Gatehouse on a new database several times and measures
// exec-to-first-answer (GET /healthz 200, which queries the database), then
// its resident memory after it has sat idle for a second.
func (b *bench) coldStart(ctx context.Context) error {
	var starts []time.Duration
	var rss []int64
	for i := range b.o.starts {
		dbArg, err := b.newDB(fmt.Sprintf("cold%d", i))
		if err != nil {
			return err
		}
		p, err := b.start(fmt.Sprintf("cold%d", i), b.serveArgs(dbArg), "/healthz")
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
	// The figure judged: see idle.go for why the binary is read from disk.
	idle, err := b.idleMemory(ctx, max(3, b.o.starts/2))
	if err != nil {
		return err
	}
	worst, best := idle[len(idle)-1], idle[0]
	b.rep.below("idle memory (RSS, worst start)", float64(worst.RSS)/mib, "MiB", 30,
		fmt.Sprintf("VmRSS 1 s after the first answer, %d starts on a new database, the binary read from disk (dropped from the page cache first); of it private (RssAnon) %.1f MiB, the binary's pages (RssFile) %.1f MiB; best %.1f MiB",
			len(idle), float64(worst.Anon)/mib, float64(worst.File)/mib, float64(best.RSS)/mib))
	b.rep.info("idle memory, binary in the page cache as go build left it", float64(rss[len(rss)-1])/mib, "MiB",
		fmt.Sprintf("VmRSS of the timed starts above, worst; best %.1f MiB; the file's large folios are mapped whole (see docs/PERFORMANCE.md)", float64(rss[0])/mib))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// signUp creates an account through the real form and returns the
// session cookie it set. from, if set, is the client address sent as
// X-Forwarded-For.
func signUp(ctx context.Context, c *http.Client, base, user, pw, from string) (string, error) {
	form := url.Values{"username": {user}, "email": {user + "@example.com"}, "password": {pw}, "password_confirm": {pw}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/signup", bytes.NewBufferString(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
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
	var err error
	if b.mainDB, err = b.newDB("main"); err != nil {
		return err
	}
	var env []string
	profile := ""
	if b.mainBin != b.bin {
		profile = filepath.Join(b.dir, "gatehouse.cpu.pprof")
		env = []string{"GATEHOUSE_BENCH_CPUPROFILE=" + profile}
	}
	gh, err := b.startBin(b.mainBin, "gatehouse", b.mainArgs(b.mainDB), env)
	if err != nil {
		return err
	}
	gh.profile = profile
	b.main = gh
	client := &http.Client{Transport: newTransport(1), CheckRedirect: noRedirect, Timeout: time.Minute}
	b.cookie, err = signUp(ctx, client, gh.url, benchUser, benchPassword, "")
	return err
}

func (b *bench) mainArgs(dbArg string) []string {
	return append(b.serveArgs(dbArg), "-trusted-proxies", "127.0.0.1")
}

// clientAddr is the made-up address of visitor i, sent as X-Forwarded-For.
func clientAddr(i int64) string {
	return fmt.Sprintf("10.%d.%d.%d", (i>>16)&0xff, (i>>8)&0xff, i&0xff)
}

// signinRate compares successful sign-ins and sign-ups per second with
// argon2id hashes per second computed here with the same parameters
// (password.OWASP) and the same parallelism (one hash per CPU, as the
// server's hasher allows), in rounds whose three sides take turns in
// half-second slices, each measured while the others are idle.
//
// Sign-in, as product.md §9 puts it: 16 concurrent clients (-conc), each
// signing in to its own account, all from one address (no
// X-Forwarded-For: the connection's 127.0.0.1), with zero refusals.
// Sign-up: 16 concurrent clients each creating new accounts, every
// sign-up from an address of its own, as 16 people on 16 machines would:
// §6 caps the answers that tell whether a name is taken, sign-up
// included, at 100 per address in 10 minutes, so hundreds of sign-ups a
// minute from one address measure that cap, not the throughput.
func (b *bench) signinRate(ctx context.Context) error {
	if err := b.mainServer(ctx); err != nil {
		return err
	}
	gh := b.main
	workers := b.o.conc
	client := &http.Client{Transport: newTransport(workers), CheckRedirect: noRedirect, Timeout: 3 * time.Minute}
	// The sign-in accounts, made through the sign-up form.
	for i := range workers {
		if _, err := signUp(ctx, client, gh.url, rateName(i), benchPassword, clientAddr(1<<16+int64(i))); err != nil {
			return err
		}
	}
	signinForm := make([]string, workers)
	for i := range workers {
		signinForm[i] = url.Values{"username": {rateName(i)}, "password": {benchPassword}}.Encode()
	}
	var upN atomic.Int64
	signin := func(w int, _ int64) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, gh.url+"/signin", strings.NewReader(signinForm[w]))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
	signup := func(int, int64) *http.Request {
		n := upN.Add(1)
		name, pw := fmt.Sprintf("up%06d", n), fmt.Sprintf("sign-up passphrase %06d", n)
		form := url.Values{"username": {name}, "email": {name + "@example.com"}, "password": {pw}, "password_confirm": {pw}}
		req, _ := http.NewRequest(http.MethodPost, gh.url+"/signup", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", clientAddr(2<<16+n))
		return req
	}
	// Warm-up, not counted.
	formLoop(client, gh.pid(), workers, b.o.dur/4, signin)
	formLoop(client, gh.pid(), workers, b.o.dur/4, signup)

	var hashes, rawFaults int64
	var rawTime, rawCPU time.Duration
	var in, up formResult
	var inRatios, upRatios, others []float64
	// A round is split into slices of about half a second, each running
	// the three sides in turn: a shared host's speed drifts by 10-20% over
	// seconds (the memory-bound hash feels its neighbours), so sides that
	// run seconds apart compare different machines. Interleaved finely,
	// each side of a round samples the same stretch of time. Each slice's
	// requests all count, however late they end (formLoop), and the raw
	// side likewise waits for its last hashes: both sides end a slice with
	// one core idle for part of a hash.
	nslices := max(1, int(b.o.dur/(500*time.Millisecond)))
	slice := b.o.dur / time.Duration(nslices)
	for r := range b.o.rounds {
		mark := markCPU(gh.pid())
		var rawN int64
		var rawD time.Duration
		var ri, ru formResult
		sides := []func(){
			func() {
				own0, _ := cpuTime(os.Getpid())
				flt0, _ := minorFaults(os.Getpid())
				n, d := rawHashes(runtime.NumCPU(), slice)
				own1, _ := cpuTime(os.Getpid())
				flt1, _ := minorFaults(os.Getpid())
				rawN += n
				rawD += d
				rawFaults += flt1 - flt0
				rawCPU += own1 - own0
			},
			func() { ri.add(formLoop(client, gh.pid(), workers, slice, signin)) },
			func() { ru.add(formLoop(client, gh.pid(), workers, slice, signup)) },
		}
		for k := range nslices {
			for i := range sides {
				sides[(i+r+k)%len(sides)]()
			}
		}
		hashes += rawN
		rawTime += rawD
		rawRate := float64(rawN) / rawD.Seconds()
		in.add(ri)
		up.add(ru)
		inRatios = append(inRatios, ri.rps()/rawRate)
		upRatios = append(upRatios, ru.rps()/rawRate)
		others = append(others, mark.otherSince(gh.pid()))
		logf("round %d: raw %.1f hash/s, sign-in %.1f/s (%s), sign-up %.1f/s (%s), other work %.0f%% of the machine",
			r+1, rawRate, ri.rps(), describe(ri.Statuses, nil), ru.rps(), describe(ru.Statuses, nil), 100*others[r])
	}
	slices.Sort(inRatios)
	slices.Sort(upRatios)
	rawRate := float64(hashes) / rawTime.Seconds()
	other := median(others)
	quiet := "a quiet machine"
	if other > 0.1 {
		quiet = "NOT a quiet machine: the sides of a round saw different CPU, so the ratios below are noisy; re-run on a quiet machine"
	}
	b.rep.info("raw argon2id hash rate", rawRate, "hash/s",
		fmt.Sprintf("m=%d KiB t=%d p=%d, %d goroutines in the bench process, %d rounds of %s, each side of a round in %d slices of %s taken in turn with the others'; other work took %.0f%% of the machine (median round): %s",
			password.OWASP.Memory, password.OWASP.Time, password.OWASP.Threads, runtime.NumCPU(), b.o.rounds, b.o.dur, nslices, slice, 100*other, quiet))
	for _, s := range []struct {
		what, path string
		res        formResult
		ratios     []float64
		from       string
	}{
		{"sign-in", "POST /signin", in, inRatios, "each its own account, all from one address"},
		{"sign-up", "POST /signup", up, upRatios, "each sign-up a new account from its own address"},
	} {
		s.res.sort()
		b.rep.info(s.what+" throughput", s.res.rps(), "req/s",
			fmt.Sprintf("%s → 303, %d clients, %s; p50 %.0f ms; %s; the load generator (this process) used %.1f%% of the machine",
				s.path, workers, s.from, ms(percentile(s.res.Latencies, 0.5)), describe(s.res.Statuses, s.res.Errs), 100*s.res.genShare()))
		// CPU seconds per hash against the server's CPU seconds per
		// request: what the ratio would be if each had the cores to itself.
		if s.res.OK > 0 && hashes > 0 {
			per := s.res.ServerCPU.Seconds() / float64(s.res.OK)
			b.rep.info("CPU per "+s.what+" / CPU per raw hash", per/(rawCPU.Seconds()/float64(hashes)), "",
				fmt.Sprintf("server %.1f ms per %s, %.1f ms per raw hash (from /proc); minor page faults %.0f per %s, %.0f per raw hash",
					1000*per, s.what, 1000*rawCPU.Seconds()/float64(hashes),
					float64(s.res.Faults)/float64(s.res.OK), s.what, float64(rawFaults)/float64(hashes)))
		}
		b.rep.exactly(s.what+" refusals and errors", float64(s.res.refusedOrFailed()), "", 0,
			"product.md §9 (zero refusals); answers other than 303: 429 and 503 are refusals")
		name := s.what + " throughput / raw hash rate"
		if other > busyMachine {
			// The raw side and the server's ran at different times, so
			// on a machine this busy they got different shares of the
			// CPU: a ratio of 2.4 has been seen.
			b.rep.refused(name, ">= 0.9", fmt.Sprintf("product.md §9; no ratio: other work took %.0f%% of the machine (median round; limit %.0f%%), so the sides saw different CPU (rounds read %s); the CPU per %s row still holds; re-run on a quiet machine",
				100*other, 100*busyMachine, joinNums(s.ratios), s.what))
			continue
		}
		b.rep.atLeast(name, median(s.ratios), "", 0.9,
			fmt.Sprintf("product.md §9; median of %d rounds (%s), pooled %.3f", len(s.ratios), joinNums(s.ratios), s.res.rps()/rawRate))
	}
	return nil
}

// busyMachine is the share of the machine other work may take (median
// round) before the sign-in ratios are refused.
const busyMachine = 0.25

func rateName(i int) string { return fmt.Sprintf("rate%02d", i) }

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

// signups sends 500 sign-up forms at once, each from its own connection
// and its own address (500 people; §6 caps sign-ups per address), then
// counts the accounts in the database file.
func (b *bench) signups(ctx context.Context) error {
	if err := b.mainServer(ctx); err != nil {
		return err
	}
	gh := b.main
	statuses, errs, took := burst(burstUsers, func(i int, c *http.Client) (int, error) {
		pw := burstPassword(i)
		return postForm(ctx, c, gh.url+"/signup", url.Values{"username": {burstName(i)},
			"email": {burstName(i) + "@example.com"}, "password": {pw}, "password_confirm": {pw}},
			"X-Forwarded-For", clientAddr(3<<16+int64(i)))
	})
	bad := burstUsers - statuses[http.StatusSeeOther]
	n, err := b.countUsers(b.mainDB, "burst%")
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
func (b *bench) burstAccounts(dbArg string) ([]int, error) {
	var out []int
	for i := range burstUsers {
		n, err := b.countUsers(dbArg, burstName(i))
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
	accounts, err := b.burstAccounts(b.mainDB)
	if err != nil {
		return err
	}
	if len(accounts) < 100 {
		return fmt.Errorf("the flood needs at least 100 accounts from the sign-up step, found %d", len(accounts))
	}
	b.stop(b.main)
	gh, err := b.start("gatehouse-flood", b.mainArgs(b.mainDB), "/healthz")
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
	if b.svc != nil {
		// The seeding writes SQLite files directly.
		b.rep.notApplicable(fmt.Sprintf("latency p50 ratio %d / %d", b.o.users, 1000), "<= 1.2",
			"product.md §9; the data-growth step seeds SQLite files and is measured on SQLite only")
		return nil
	}
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
		if s.p, err = b.start(fmt.Sprintf("scale%d", s.n), b.serveArgs(s.path), "/healthz"); err != nil {
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
