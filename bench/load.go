package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
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

// loadResult is what one closed-loop run measured.
type loadResult struct {
	Requests  int
	Errors    int
	Bytes     int64 // body bytes of the last good answer
	Elapsed   time.Duration
	Latencies []time.Duration
	ServerCPU time.Duration // CPU the server process used during the run
	ClientCPU time.Duration // CPU this process (the load generator) used
}

func (l loadResult) rps() float64 { return float64(l.Requests) / l.Elapsed.Seconds() }

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
	l.Errors += o.Errors
	l.Bytes = o.Bytes
	l.Elapsed += o.Elapsed
	l.Latencies = append(l.Latencies, o.Latencies...)
	l.ServerCPU += o.ServerCPU
	l.ClientCPU += o.ClientCPU
}

func (l *loadResult) sort() { slices.Sort(l.Latencies) }

// getLoad runs `workers` clients in a closed loop (each sends its next
// request when the previous answer is read) for d against one URL. cookie
// picks the session cookie of request n.
func getLoad(client *http.Client, pid int, target string, workers int, d time.Duration, cookie func(n int64) string) loadResult {
	return closedLoop(client, pid, workers, d, http.StatusOK, func(n int64) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		if cookie != nil {
			req.Header.Set("Cookie", "session="+cookie(n))
		}
		return req
	})
}

// closedLoop runs `workers` clients, each sending its next request (made
// by mk) when the previous answer is read, for d. want is the status of a
// good answer; the server's CPU time is read from /proc around the run.
func closedLoop(client *http.Client, pid int, workers int, d time.Duration, want int, mk func(n int64) *http.Request) loadResult {
	var (
		next    atomic.Int64
		mu      sync.Mutex
		total   loadResult
		wg      sync.WaitGroup
		cpu0, _ = cpuTime(pid)
		own0, _ = cpuTime(os.Getpid())
		start   = time.Now()
		stop    = start.Add(d)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine loadResult
			mine.Latencies = make([]time.Duration, 0, 1<<14)
			for time.Now().Before(stop) {
				req := mk(next.Add(1))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					mine.Errors++
					continue
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat := time.Since(t0)
				if err != nil || resp.StatusCode != want {
					mine.Errors++
					continue
				}
				mine.Requests++
				mine.Bytes = n
				mine.Latencies = append(mine.Latencies, lat)
			}
			mu.Lock()
			total.add(mine)
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.Elapsed = time.Since(start)
	cpu1, _ := cpuTime(pid)
	own1, _ := cpuTime(os.Getpid())
	total.ServerCPU = cpu1 - cpu0
	total.ClientCPU = own1 - own0
	return total
}

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
