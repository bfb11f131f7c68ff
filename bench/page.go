package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"gatehouse/views"
)

// The rules that decide whether the page comparison may print a ratio.
// product.md §9: "report no ratio when the generator used more than half
// the machine or the baseline did not reach the generator's own ceiling".
const (
	// maxGenShare: in no measured baseline or Gatehouse round may wrk use
	// more than half the machine's CPU time (user+system over wall time ×
	// CPUs). Past that, the generator takes more of the cores than it
	// leaves to the server, and the server's figure is mostly a
	// measure of what wrk left it.
	maxGenShare = 0.5

	// maxBaseOfCeiling: the generator's ceiling is what wrk, with the same
	// threads and connections, gets from the cheapest server there is (a
	// net/http handler writing a static byte slice of the dashboard's
	// size, no log, no router) on the same machine in the same rounds: the
	// most requests per second this generator, loopback and kernel can
	// carry for a response of that size while sharing the cores with a
	// server. If the baseline comes close to it, the baseline's figure is
	// set by the generator and not by the baseline's own work, so it reads
	// too low and every ratio against it reads too high (at the limit,
	// every server "runs at 100% of the baseline"). "Reached" is taken as
	// coming within 20%: the baseline's median must be at most 0.8 of the
	// ceiling's median, i.e. the generator has shown it can deliver at
	// least 1.25 times what the baseline took. A round's noise on a shared
	// machine is a few percent, so 20% is clearly outside it.
	maxBaseOfCeiling = 0.8

	// The targets: product.md §9 for throughput, issue 12 for the p99.
	minPageRatio = 0.5
	maxP99Ratio  = 3.0
)

// pageRounds holds the measured (not warm-up) rounds of each side, in
// order; round r of each side ran next to round r of the others.
type pageRounds struct {
	ceiling, base, gh []wrkResult
}

// pageVerdict is what the rounds allow the bench to say.
type pageVerdict struct {
	ratio    float64 // median over rounds of Gatehouse / baseline requests per second
	p99Ratio float64 // median over rounds of Gatehouse p99 / baseline p99
	maxGen   float64 // the highest wrk CPU share in a baseline or Gatehouse round
	baseCeil float64 // median baseline rate / median ceiling rate
	// maxGenOwn, when wrk was pinned: the highest share of its own CPUs
	// it used in a baseline or Gatehouse round.
	maxGenOwn float64
	refusal   []string
}

// judgePage applies the rules above. body is the size of the page's body:
// wrk counts any answer under 400 as a success, so an answer with fewer
// bytes than the body (a 303 to the sign-in page, say) means the rounds
// did not measure the page.
func judgePage(r pageRounds, body, genCPUs int) pageVerdict {
	var v pageVerdict
	sides := []struct {
		name   string
		rounds []wrkResult
	}{{"ceiling", r.ceiling}, {"baseline", r.base}, {"Gatehouse", r.gh}}
	for _, s := range sides {
		if len(s.rounds) == 0 {
			v.refusal = append(v.refusal, fmt.Sprintf("no %s rounds", s.name))
			continue
		}
		for i, w := range s.rounds {
			if n := w.errors(); n > 0 {
				v.refusal = append(v.refusal, fmt.Sprintf("%s round %d: %d wrk errors (connect %d, read %d, write %d, status>=400 %d, timeout %d)",
					s.name, i+1, n, w.Connect, w.Read, w.Write, w.Status, w.Timeout))
			}
			if w.Requests == 0 || w.Bytes/w.Requests < int64(body) {
				v.refusal = append(v.refusal, fmt.Sprintf("%s round %d: %d requests, %d bytes each, less than the %d-byte page",
					s.name, i+1, w.Requests, safeDiv(w.Bytes, w.Requests), body))
			}
		}
	}
	if len(r.ceiling) == 0 || len(r.base) == 0 || len(r.gh) == 0 {
		return v
	}
	for _, s := range sides[1:] {
		for i, w := range s.rounds {
			g := w.genShare()
			v.maxGen = max(v.maxGen, g)
			if g > maxGenShare {
				v.refusal = append(v.refusal, fmt.Sprintf("wrk used %.0f%% of the machine in %s round %d (limit %.0f%%)",
					100*g, s.name, i+1, 100*maxGenShare))
			}
		}
	}
	v.baseCeil = median(rates(r.base)) / median(rates(r.ceiling))
	if genCPUs > 0 {
		// Pinned, the ceiling server is held to the servers' cores like
		// the others, so its rate is no longer the generator's ceiling:
		// whether wrk limited a round is read from wrk's own cores
		// instead, with the same margin (it must have had at least a
		// fifth of them to spare, i.e. 1.25 times what it sent).
		for _, s := range sides[1:] {
			for i, w := range s.rounds {
				own := w.genShare() * float64(ncpu()) / float64(genCPUs)
				v.maxGenOwn = max(v.maxGenOwn, own)
				if own > maxBaseOfCeiling {
					v.refusal = append(v.refusal, fmt.Sprintf("wrk used %.0f%% of its own CPUs in %s round %d (limit %.0f%%): the generator would be what limits the figure",
						100*own, s.name, i+1, 100*maxBaseOfCeiling))
				}
			}
		}
	} else if v.baseCeil > maxBaseOfCeiling {
		v.refusal = append(v.refusal, fmt.Sprintf("the baseline reached %.2f of the generator's ceiling (limit %.2f): its figure would be the generator's, not its own",
			v.baseCeil, maxBaseOfCeiling))
	}
	n := min(len(r.base), len(r.gh))
	ratios := make([]float64, n)
	p99s := make([]float64, n)
	for i := range n {
		ratios[i] = r.gh[i].rps() / r.base[i].rps()
		p99s[i] = float64(r.gh[i].P99) / float64(max(r.base[i].P99, time.Microsecond))
	}
	v.ratio = median(ratios)
	v.p99Ratio = median(p99s)
	return v
}

func safeDiv(a, b int64) int64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// median of v (not modified); 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func rates(rs []wrkResult) []float64 { return each(rs, wrkResult.rps) }

func each(rs []wrkResult, f func(wrkResult) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func msOf(f func(wrkResult) time.Duration) func(wrkResult) float64 {
	return func(w wrkResult) float64 { return ms(f(w)) }
}

// dashboard compares signed-in GET /dashboard with the baseline (a bare
// Gin handler rendering the same HTML with the same request log) under
// wrk, next to the generator's ceiling, in rounds that alternate the
// sides: C B G, G B C, C B G, ... so that the baseline and Gatehouse
// rounds of a pair always run one after the other.
func (b *bench) dashboard(ctx context.Context) error {
	wrk, err := findWrk(b.dir, b.o.wrkThreads, b.o.wrkConns)
	if err != nil {
		return err
	}
	if err := b.mainServer(ctx); err != nil {
		return err
	}
	gh, cookie := b.main, b.cookie
	client := &http.Client{Transport: newTransport(1), CheckRedirect: noRedirect, Timeout: time.Minute}
	data, err := dashboardData(client, gh.url, cookie)
	if err != nil {
		return err
	}
	base, err := b.startHelper("baseline", []string{"-baseline-addr", "ADDR", "-baseline-data", string(data)})
	if err != nil {
		return err
	}
	defer b.stop(base)

	ghBody, st1, err1 := get(client, gh.url+"/dashboard", cookie)
	baseBody, st2, err2 := get(client, base.url+"/dashboard", cookie)
	if err := errors.Join(err1, err2); err != nil || st1 != 200 || st2 != 200 {
		return fmt.Errorf("first GET /dashboard: gatehouse %d, baseline %d, %v", st1, st2, err)
	}
	if !bytes.Contains(ghBody, []byte(benchUser)) {
		return errors.New("Gatehouse's dashboard does not name the bench user: the cookie did not sign in")
	}
	same := "identical HTML"
	if !bytes.Equal(ghBody, baseBody) {
		same = fmt.Sprintf("HTML differs: gatehouse %d B, baseline %d B", len(ghBody), len(baseBody))
	}
	bodyFile := filepath.Join(b.dir, "dashboard.html")
	if err := os.WriteFile(bodyFile, ghBody, 0o644); err != nil {
		return err
	}
	ceil, err := b.startHelper("ceiling", []string{"-ceiling-addr", "ADDR", "-ceiling-body", bodyFile})
	if err != nil {
		return err
	}
	defer b.stop(ceil)

	type side struct {
		name    string
		p       *process
		headers []string
		rounds  *[]wrkResult
	}
	var rr pageRounds
	// Every side gets the same request, cookie included.
	hdr := []string{"Cookie: session=" + cookie}
	C := side{"ceiling", ceil, hdr, &rr.ceiling}
	B := side{"baseline", base, hdr, &rr.base}
	G := side{"gatehouse", gh, hdr, &rr.gh}
	runSide := func(s side, d time.Duration) (wrkResult, error) {
		res, err := wrk.run(ctx, s.p.url+"/dashboard", s.headers, d, s.p.pid())
		if err != nil {
			return res, fmt.Errorf("%s: %w", s.name, err)
		}
		return res, nil
	}
	// Warm-up, not counted: connections, pools, code paged in, heap grown.
	for _, s := range []side{C, B, G} {
		if _, err := runSide(s, max(time.Second, b.o.wrkDur/4)); err != nil {
			return err
		}
	}
	for r := range b.o.rounds {
		order := []side{C, B, G}
		if r%2 == 1 {
			order = []side{G, B, C}
		}
		for _, s := range order {
			res, err := runSide(s, b.o.wrkDur)
			if err != nil {
				return err
			}
			*s.rounds = append(*s.rounds, res)
			b.rep.round(roundOf("page", r+1, s.name, res))
			logf("round %d %-9s %7.0f req/s  p99 %6.2f ms  wrk %3.0f%%  server %3.0f%%  other %3.0f%%",
				r+1, s.name, res.rps(), ms(res.P99), 100*res.genShare(), 100*res.serverShare(), 100*res.otherShare())
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	v := judgePage(rr, len(ghBody), 0)
	if !bytes.Equal(ghBody, baseBody) {
		v.refusal = append(v.refusal, "the baseline's HTML is not Gatehouse's: "+same)
	}
	how := fmt.Sprintf("wrk -t%d -c%d, %d×%s alternating, medians", wrk.threads, wrk.conns, b.o.rounds, b.o.wrkDur)
	med := func(rs []wrkResult, f func(wrkResult) float64) float64 { return median(each(rs, f)) }
	cpuNote := func(rs []wrkResult) string {
		return fmt.Sprintf("wrk %.0f%%, server %.0f%%, other %.0f%% of the machine's %d CPUs",
			100*med(rs, wrkResult.genShare), 100*med(rs, wrkResult.serverShare), 100*med(rs, wrkResult.otherShare), runtime.NumCPU())
	}
	b.rep.info("generator ceiling: static body, same size", med(rr.ceiling, wrkResult.rps), "req/s",
		fmt.Sprintf("net/http writing a %d-byte byte slice, no log; %s; %s", len(ghBody), how, cpuNote(rr.ceiling)))
	b.rep.info("baseline GET /dashboard throughput", med(rr.base, wrkResult.rps), "req/s",
		fmt.Sprintf("bare Gin + same template + request log; %s", cpuNote(rr.base)))
	b.rep.info("Gatehouse signed-in GET /dashboard throughput", med(rr.gh, wrkResult.rps), "req/s",
		fmt.Sprintf("%d B body, %s; %s; %.3f of the ceiling", len(ghBody), same, cpuNote(rr.gh),
			med(rr.gh, wrkResult.rps)/med(rr.ceiling, wrkResult.rps)))
	b.rep.info("baseline latency p50 / p99", med(rr.base, msOf(func(w wrkResult) time.Duration { return w.P50 })), "ms",
		fmt.Sprintf("p99 %.2f ms", med(rr.base, msOf(func(w wrkResult) time.Duration { return w.P99 }))))
	b.rep.info("Gatehouse latency p50 / p99", med(rr.gh, msOf(func(w wrkResult) time.Duration { return w.P50 })), "ms",
		fmt.Sprintf("p99 %.2f ms", med(rr.gh, msOf(func(w wrkResult) time.Duration { return w.P99 }))))
	other := median(append(append(each(rr.ceiling, wrkResult.otherShare), each(rr.base, wrkResult.otherShare)...), each(rr.gh, wrkResult.otherShare)...))
	quiet := "a quiet machine"
	if other > 0.1 {
		quiet = "NOT a quiet machine: other work took CPU from the rounds, so the figures above are low and noisy; re-run on a quiet machine"
	}
	b.rep.info("machine busy outside wrk and the server, median round", 100*other, "%",
		"other programs, interrupts and kernel threads (from /proc/stat); "+quiet)
	perReq := func(w wrkResult) float64 { return float64(w.serverPerReq()) / float64(time.Microsecond) }
	ghCPU, baseCPU := med(rr.gh, perReq), med(rr.base, perReq)
	b.rep.info("server CPU per request: Gatehouse / baseline", ghCPU, "µs",
		fmt.Sprintf("baseline %.1f µs, ceiling %.1f µs (user+system from /proc); baseline/Gatehouse %.3f: the ratio if each server had the machine to itself",
			baseCPU, med(rr.ceiling, perReq), baseCPU/ghCPU))

	// The conditions for a ratio, each shown with its limit.
	b.rep.atMost("load generator CPU, busiest baseline or Gatehouse round", 100*v.maxGen, "%", 100*maxGenShare,
		"wrk's user+system time over the round's wall time × CPUs; over the limit, no ratio")
	b.rep.atMost("baseline / generator ceiling", v.baseCeil, "", maxBaseOfCeiling,
		"medians; at the ceiling the baseline would measure wrk, not itself; over the limit, no ratio")
	if len(v.refusal) > 0 {
		why := "no ratio: " + strings.Join(v.refusal, "; ")
		b.rep.refused("signed-in page throughput / baseline", ">= "+num(minPageRatio), "product.md §9; "+why)
		b.rep.refused("signed-in page p99 / baseline p99", "<= "+num(maxP99Ratio), "issue 12; "+why)
	} else {
		b.rep.atLeast("signed-in page throughput / baseline", v.ratio, "", minPageRatio,
			fmt.Sprintf("product.md §9; median of %d round pairs (%s), ratio of medians %.3f",
				len(rr.gh), joinNums(sorted(pairRatios(rr.gh, rr.base, wrkResult.rps))), med(rr.gh, wrkResult.rps)/med(rr.base, wrkResult.rps)))
		b.rep.atMost("signed-in page p99 / baseline p99", v.p99Ratio, "", maxP99Ratio,
			fmt.Sprintf("issue 12; median of %d round pairs (%s)", len(rr.gh),
				joinNums(sorted(pairRatios(rr.gh, rr.base, msOf(func(w wrkResult) time.Duration { return w.P99 }))))))
	}

	if b.o.cpuProfile != "" {
		if err := b.profileDashboard(ctx, wrk, G.p, hdr); err != nil {
			return fmt.Errorf("CPU profile: %w", err)
		}
	}
	return nil
}

func pairRatios(a, b []wrkResult, f func(wrkResult) float64) []float64 {
	n := min(len(a), len(b))
	out := make([]float64, n)
	for i := range n {
		out[i] = f(a[i]) / f(b[i])
	}
	return out
}

func sorted(v []float64) []float64 {
	slices.Sort(v)
	return v
}

// roundOf is one line of the rounds table.
func roundOf(step string, round int, side string, w wrkResult) roundRow {
	return roundRow{
		Step: step, Round: round, Side: side,
		RPS: w.rps(), P50: ms(w.P50), P99: ms(w.P99),
		Gen: 100 * w.genShare(), Server: 100 * w.serverShare(), Other: 100 * w.otherShare(),
		ServerUs:    float64(w.serverPerReq()) / float64(time.Microsecond),
		BytesPerReq: safeDiv(w.Bytes, w.Requests),
	}
}

// dashboardData is the template data Gatehouse's dashboard handler builds
// for the bench user, read back through /api/me, so the baseline renders
// the same page without the bench reading Gatehouse's database.
func dashboardData(client *http.Client, base, cookie string) ([]byte, error) {
	body, status, err := get(client, base+"/api/me", cookie)
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("GET /api/me: %d %v", status, err)
	}
	var me struct {
		ID               int64     `json:"id"`
		Username         string    `json:"username"`
		Email            string    `json:"email"`
		CreatedAt        time.Time `json:"created_at"`
		SessionExpiresAt time.Time `json:"session_expires_at"`
	}
	if err := json.Unmarshal(body, &me); err != nil {
		return nil, err
	}
	return json.Marshal(views.Data{
		Title:   "Dashboard",
		Account: &views.Account{ID: me.ID, Username: me.Username, Email: me.Email, CreatedAt: me.CreatedAt},
		Private: true,
		Session: views.SessionInfo{ExpiresAt: me.SessionExpiresAt, Idle: 168 * time.Hour},
	})
}

// profileDashboard takes a CPU profile of the Gatehouse server over one
// more wrk run on the dashboard, after the measured rounds (profiling
// costs a few percent, so it stays out of the figures). The server was
// built with the bench's profiling hook (cpuprofileHook): SIGUSR1 starts
// runtime/pprof, SIGUSR2 stops it and writes the file.
func (b *bench) profileDashboard(ctx context.Context, wrk *wrkConfig, gh *process, headers []string) error {
	if gh.profile == "" {
		return errors.New("the server was not built with the profiling hook")
	}
	os.Remove(gh.profile)
	if err := gh.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return err
	}
	time.Sleep(100 * time.Millisecond) // the hook's goroutine starts the profile
	res, err := wrk.run(ctx, gh.url+"/dashboard", headers, b.o.wrkDur, gh.pid())
	if err != nil {
		return err
	}
	if err := gh.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(gh.profile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server wrote no profile; its log:\n%s", tail(gh.logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
	prof, err := os.ReadFile(gh.profile)
	if err != nil {
		return err
	}
	if err := os.WriteFile(b.o.cpuProfile, prof, 0o644); err != nil {
		return err
	}
	b.rep.info("CPU profile of Gatehouse under wrk", res.rps(), "req/s",
		fmt.Sprintf("one more %s wrk run on GET /dashboard, not counted above; profile written to %s (go tool pprof -top %s)",
			b.o.wrkDur, b.o.cpuProfile, b.o.cpuProfile))
	return nil
}
