// Command bench measures Gatehouse against the targets of product.md §9
// and prints one table: go run ./bench [-quick] [-json out.json].
//
// It builds nothing by hand: it compiles the server with go build into a
// temporary directory, runs it as a child process on a temporary database
// (so its memory and CPU can be read from /proc), runs this same binary as
// the baseline (a bare Gin handler rendering the same dashboard HTML) and
// as the generator's ceiling (a static body of the same size), and loads
// the three with wrk in alternating rounds, in one run. The sign-in,
// sign-up and data-growth steps, bound by argon2id or measured by one
// client, use a Go client. See docs/PERFORMANCE.md for what each figure
// means and the rules under which the page ratio is refused.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"time"

	"gatehouse/internal/preempt"
)

type options struct {
	quick    bool
	jsonPath string
	conc     int           // concurrent clients for throughput runs
	dur      time.Duration // length of one measured round
	rounds   int           // interleaved rounds per comparison
	users    int64         // users and sessions of the large database
	starts   int           // cold starts measured
	keep     bool
	only     string // comma-separated step keys; empty runs all

	wrkThreads int
	wrkConns   int
	wrkDur     time.Duration // one wrk round of the page comparison
	cpuProfile string        // CPU profile of Gatehouse under wrk, written here
	backend    string        // sqlite or postgres+redis
}

func main() {
	// The raw argon2id loop runs in this process, so it runs under the
	// runtime setting the server gives itself (internal/preempt); the
	// processes the bench starts get the GODEBUG it was started with.
	if _, ok := os.LookupEnv(godebugWas); !ok {
		os.Setenv(godebugWas, os.Getenv("GODEBUG"))
	}
	preempt.ByCallsOnly()
	var o options
	flag.BoolVar(&o.quick, "quick", false, "short rounds and a 20,000-user large database, for trying it out")
	flag.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	flag.IntVar(&o.conc, "conc", 16, "concurrent clients signing in, and signing up, in the sign-in step (product.md §9 says 16)")
	flag.DurationVar(&o.dur, "dur", 0, "length of one measured round of the sign-in and data-growth steps; in the sign-in step, each side's time in a round, taken in half-second turns (default 2s, 1s with -quick)")
	flag.IntVar(&o.rounds, "rounds", 0, "interleaved rounds per comparison, at least 3 (default 7 for the sign-in and data-growth steps and 5 for the page, 3 with -quick)")
	flag.IntVar(&o.wrkThreads, "wrk-threads", 2, "wrk threads (-t) in the page comparison")
	flag.IntVar(&o.wrkConns, "wrk-conns", 64, "wrk connections (-c) in the page comparison")
	flag.DurationVar(&o.wrkDur, "wrk-dur", 0, "length of one wrk round in the page comparison, whole seconds (default 5s, 2s with -quick)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the Gatehouse server under wrk on the signed-in dashboard to this file (one more round after the measured ones; needs the page step)")
	flag.Int64Var(&o.users, "users", 0, "users and sessions in the large database (default 1000000, 20000 with -quick)")
	flag.IntVar(&o.starts, "starts", 0, "cold starts to measure (default 7, 3 with -quick)")
	flag.StringVar(&o.backend, "backend", backendSQLite, "sqlite, or postgres+redis: a PostgreSQL cluster and redis-server the bench starts on loopback")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (databases, logs)")
	flag.StringVar(&o.only, "only", "", "run only these steps, comma-separated: cold,page,signin,signups,flood,scale,pair,fa (flood needs signups)")
	baselineAddr := flag.String("baseline-addr", "", "internal: serve the baseline on this address")
	baselineData := flag.String("baseline-data", "", "internal: the baseline's template data (JSON)")
	ceilingAddr := flag.String("ceiling-addr", "", "internal: serve the generator's ceiling on this address")
	ceilingBody := flag.String("ceiling-body", "", "internal: the file whose bytes the ceiling serves")
	flag.Parse()

	if *baselineAddr != "" {
		if err := serveBaseline(*baselineAddr, *baselineData); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		return
	}
	if *faBaselineAddr != "" {
		fmt.Fprintln(os.Stderr, "forward-auth baseline:", serveForwardAuthBaseline(*faBaselineAddr))
		os.Exit(1)
	}
	if *ceilingAddr != "" {
		if err := serveCeiling(*ceilingAddr, *ceilingBody); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			os.Exit(1)
		}
		return
	}
	def := func(v *time.Duration, full, quick time.Duration) {
		if *v == 0 {
			*v = pick(o.quick, quick, full)
		}
	}
	// Many short interleaved rounds rather than a few long ones: the
	// verdicts take the median pair, so more pairs ride out bursts of other
	// work on a shared machine.
	def(&o.dur, 2*time.Second, time.Second)
	def(&o.wrkDur, 5*time.Second, 2*time.Second)
	o.wrkDur = max(time.Second, o.wrkDur.Round(time.Second)) // wrk takes whole seconds
	if o.cpuProfile != "" && o.only != "" && !slices.Contains(strings.Split(o.only, ","), "page") {
		fmt.Fprintln(os.Stderr, "bench: -cpuprofile profiles the page step: add page to -only")
		os.Exit(2)
	}
	if o.rounds != 0 && o.rounds < 3 {
		fmt.Fprintln(os.Stderr, "bench: -rounds must be at least 3: every figure is a median of rounds")
		os.Exit(2)
	}
	if o.users == 0 {
		o.users = pick[int64](o.quick, 20000, 1000000)
	}
	if o.starts == 0 {
		o.starts = pick(o.quick, 3, 7)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	rep.print(os.Stdout)
	if o.jsonPath != "" {
		if err := rep.writeJSON(o.jsonPath); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if !rep.allPass() {
		os.Exit(3)
	}
}

func pick[T any](quick bool, q, full T) T {
	if quick {
		return q
	}
	return full
}

// logf reports progress on stderr, so stdout carries only the table.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(ctx context.Context, o options) (*report, error) {
	began := time.Now()
	rep := &report{Machine: describeMachine(), Command: "go run ./bench " + strings.Join(os.Args[1:], " ")}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		logf("keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	logf("building gatehouse")
	bin, err := buildGatehouse(root, dir)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, dir: dir, bin: bin, mainBin: bin, self: self, rep: rep}
	if o.cpuProfile != "" {
		logf("building gatehouse with the profiling hook")
		if b.mainBin, err = buildProfiling(root, dir); err != nil {
			return nil, err
		}
	}

	if err := b.startServices(); err != nil {
		return nil, err
	}
	defer b.stopServices()
	defer b.stopAll()
	rep.Command += " (backend " + o.backend + ")"
	for _, s := range b.steps() {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if o.only != "" && !slices.Contains(strings.Split(o.only, ","), s.key) {
			continue
		}
		b.o.rounds = o.rounds
		if b.o.rounds == 0 {
			b.o.rounds = pick(o.quick, 3, s.rounds)
		}
		logf("%s", s.name)
		if err := s.fn(ctx); err != nil {
			rep.failed(s.name, err)
			logf("%s: %v", s.name, err)
		}
	}
	rep.Duration = time.Since(began).Round(time.Second).String()
	return rep, nil
}

type step struct {
	key, name string
	rounds    int // rounds of a full run, unless -rounds or -quick says
	fn        func(context.Context) error
}

// steps are the measurements in the order they run. The sign-in flood
// signs in to the accounts the sign-up step made.
func (b *bench) steps() []step {
	return []step{
		{"cold", "cold start and idle memory", 0, b.coldStart},
		{"page", "signed-in page against the baseline, under wrk", 5, b.dashboard},
		{"signin", "sign-in and sign-up against raw argon2id", 7, b.signinRate},
		{"signups", "500 concurrent sign-ups", 0, b.signups},
		{"flood", "1,000 concurrent sign-ins", 0, b.signinFlood},
		{"scale", "page latency as data grows", 7, b.scale},
		{"pair", "two instances on PostgreSQL and Redis", 0, b.twoInstances},
		{"fa", "forward-auth check against the baseline, under wrk", 5, b.forwardAuth},
	}
}

// describeMachine records what the figures were measured on.
func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GoOS: runtime.GOOS, GoArch: runtime.GOARCH, Go: runtime.Version()}
	m.CPUModel = firstField("/proc/cpuinfo", "model name")
	m.MemTotal = firstField("/proc/meminfo", "MemTotal")
	return m
}

func firstField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
