package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// newTransport is the one HTTP client setup every measurement uses: keep-
// alive connections, one per worker, no compression.
func newTransport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
}

// noRedirect keeps 303s as answers: a sign-in's success is its 303.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// loadResult is what the data-growth step measured on one side.
type loadResult struct {
	Requests  int
	Latencies []time.Duration
}

// percentile of the latencies, which must be sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func (l *loadResult) add(o loadResult) {
	l.Requests += o.Requests
	l.Latencies = append(l.Latencies, o.Latencies...)
}

func (l *loadResult) sort() { slices.Sort(l.Latencies) }

// postForm sends one form and returns the status (0 on a transport error);
// headers are pairs of name, value.
func postForm(ctx context.Context, client *http.Client, target string, form url.Values, headers ...string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// burst sends n requests at once, each on its own connection (n distinct
// visitors), released together, and reports the statuses counted and how
// long the whole burst took.
func burst(n int, send func(i int, c *http.Client) (int, error)) (map[int]int, []error, time.Duration) {
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		errs     []error
		wg       sync.WaitGroup
		gate     = make(chan struct{})
		ready    sync.WaitGroup
	)
	ready.Add(n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := newTransport(1)
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 3 * time.Minute, CheckRedirect: noRedirect}
			ready.Done()
			<-gate
			code, err := send(i, c)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			statuses[code]++
		}()
	}
	ready.Wait()
	start := time.Now()
	close(gate)
	wg.Wait()
	return statuses, errs, time.Since(start)
}

// describe renders a status count like "303×498, 500×2".
func describe(statuses map[int]int, errs []error) string {
	codes := make([]int, 0, len(statuses))
	for c := range statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", c, statuses[c]))
	}
	if len(errs) > 0 {
		parts = append(parts, fmt.Sprintf("%d transport errors (first: %v)", len(errs), errs[0]))
	}
	return strings.Join(parts, ", ")
}

// formResult is what one closed-loop run of form posts got.
type formResult struct {
	OK        int         // 303 answers
	Statuses  map[int]int // every answer, by status
	Errs      []error     // transport errors
	Elapsed   time.Duration
	Latencies []time.Duration // of the 303s
	ServerCPU time.Duration
	GenCPU    time.Duration // this process's: the load generator's
	Faults    int64         // the server's minor page faults
}

// genShare is the load generator's CPU as a share of the machine's over
// the runs added up.
func (f formResult) genShare() float64 {
	if f.Elapsed <= 0 {
		return 0
	}
	return f.GenCPU.Seconds() / (f.Elapsed.Seconds() * float64(runtime.NumCPU()))
}

func (f formResult) rps() float64 {
	if f.Elapsed <= 0 {
		return 0
	}
	return float64(f.OK) / f.Elapsed.Seconds()
}

func (f formResult) refusedOrFailed() int {
	n := len(f.Errs)
	for code, c := range f.Statuses {
		if code != http.StatusSeeOther {
			n += c
		}
	}
	return n
}

func (f *formResult) add(o formResult) {
	f.OK += o.OK
	if f.Statuses == nil {
		f.Statuses = map[int]int{}
	}
	for k, v := range o.Statuses {
		f.Statuses[k] += v
	}
	f.Errs = append(f.Errs, o.Errs...)
	f.Elapsed += o.Elapsed
	f.Latencies = append(f.Latencies, o.Latencies...)
	f.ServerCPU += o.ServerCPU
	f.GenCPU += o.GenCPU
	f.Faults += o.Faults
}

func (f *formResult) sort() { slices.Sort(f.Latencies) }

// formLoop runs `workers` clients for d, each sending its next form (made
// by mk for worker w, request n) when the previous answer is read. A
// refused client (429 or 503) waits for its Retry-After, as a person
// would, or until the round ends. Every request started counts, however
// late it ends; the run lasts until the last one has ended.
func formLoop(client *http.Client, pid, workers int, d time.Duration, mk func(w int, n int64) *http.Request) formResult {
	var (
		next  atomic.Int64
		mu    sync.Mutex
		total = formResult{Statuses: map[int]int{}}
		wg    sync.WaitGroup
		cpu0  time.Duration
	)
	cpu0, _ = cpuTime(pid)
	gen0, _ := cpuTime(os.Getpid())
	flt0, _ := minorFaults(pid)
	start := time.Now()
	stop := start.Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := formResult{Statuses: map[int]int{}}
			for time.Now().Before(stop) {
				t0 := time.Now()
				resp, err := client.Do(mk(w, next.Add(1)))
				if err != nil {
					mine.Errs = append(mine.Errs, err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine.Statuses[resp.StatusCode]++
				switch resp.StatusCode {
				case http.StatusSeeOther:
					mine.OK++
					mine.Latencies = append(mine.Latencies, time.Since(t0))
				case http.StatusTooManyRequests, http.StatusServiceUnavailable:
					wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
					time.Sleep(min(time.Until(stop), time.Duration(max(wait, 1))*time.Second))
				}
			}
			mu.Lock()
			total.add(mine)
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.Elapsed = time.Since(start)
	cpu1, _ := cpuTime(pid)
	total.ServerCPU = cpu1 - cpu0
	gen1, _ := cpuTime(os.Getpid())
	total.GenCPU = gen1 - gen0
	flt1, _ := minorFaults(pid)
	total.Faults = flt1 - flt0
	return total
}
