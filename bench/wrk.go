package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The page comparison drives HTTP load with wrk (Debian package wrk), a
// load generator in C that costs a small fraction of what a Go net/http
// client costs per request. The bench runs it as a child process, so its
// CPU time is read exactly from its rusage when it exits.

// wrkScript is a Lua `done` hook: after the run, wrk prints one line with
// the counts and latency percentiles, which parseWrk reads. Everything wrk
// prints besides that line is ignored. It defines no request or response
// hook, which would make wrk call Lua on every request.
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("wrk-result requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`

// wrkConfig is how wrk is run: the same for every side of a comparison.
type wrkConfig struct {
	path    string // the wrk executable
	script  string // wrkScript written to a file
	threads int
	conns   int
	// cpus, when set, is the CPU list wrk is pinned to (taskset -c), as
	// in the forward-auth step.
	cpus string
}

// findWrk looks wrk up on PATH and writes its script into dir.
func findWrk(dir string, threads, conns int) (*wrkConfig, error) {
	path, err := exec.LookPath("wrk")
	if err != nil {
		return nil, errors.New("wrk not found on PATH: install it (Debian package wrk); the page comparison needs a load generator lighter than a Go client")
	}
	script := filepath.Join(dir, "bench-done.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return nil, err
	}
	if threads < 1 || conns < threads {
		return nil, fmt.Errorf("wrk: need 1 <= threads (%d) <= connections (%d)", threads, conns)
	}
	return &wrkConfig{path: path, script: script, threads: threads, conns: conns}, nil
}

// wrkResult is one wrk run against one server, with the CPU each side used.
type wrkResult struct {
	Requests int64
	Duration time.Duration // wrk's own measured duration
	Bytes    int64         // response bytes read, headers included
	// Errors wrk counted: socket errors, and answers with a status >= 400.
	// A 3xx is not an error to wrk: the caller checks Bytes per request.
	Connect, Read, Write, Status, Timeout int64
	P50, P90, P99, Max                    time.Duration

	Wall      time.Duration // wrk's process, exec to exit
	GenCPU    time.Duration // wrk's user+system time (rusage)
	ServerCPU time.Duration // the server's user+system time over Wall (/proc)
	Busy      time.Duration // CPU time the whole machine spent (/proc/stat)
}

func (w wrkResult) rps() float64 {
	if w.Duration <= 0 {
		return 0
	}
	return float64(w.Requests) / w.Duration.Seconds()
}

func (w wrkResult) errors() int64 { return w.Connect + w.Read + w.Write + w.Status + w.Timeout }

// share is a CPU time as a fraction of what the machine could have given
// over the run: wall time × number of CPUs.
func (w wrkResult) share(cpu time.Duration) float64 {
	if w.Wall <= 0 {
		return 0
	}
	return cpu.Seconds() / (w.Wall.Seconds() * float64(ncpu()))
}

func (w wrkResult) genShare() float64    { return w.share(w.GenCPU) }
func (w wrkResult) serverShare() float64 { return w.share(w.ServerCPU) }

// otherShare is what neither wrk nor the server used of the machine's busy
// time: other programs, and the kernel's work not charged to either.
func (w wrkResult) otherShare() float64 {
	return max(0, w.share(w.Busy-w.GenCPU-w.ServerCPU))
}

// serverPerReq is the server's CPU time per request.
func (w wrkResult) serverPerReq() time.Duration {
	if w.Requests == 0 {
		return 0
	}
	return w.ServerCPU / time.Duration(w.Requests)
}

// ncpu is the number of CPUs shares are taken of.
func ncpu() int { return runtime.NumCPU() }

// run runs wrk for d against target with the given headers ("Name: value")
// and measures the CPU of wrk (from its rusage) and of the server process
// pid (from /proc) over wrk's lifetime.
func (c *wrkConfig) run(ctx context.Context, target string, headers []string, d time.Duration, pid int) (wrkResult, error) {
	secs := max(1, int((d+time.Second/2)/time.Second))
	args := []string{"-t", strconv.Itoa(c.threads), "-c", strconv.Itoa(c.conns), "-d", strconv.Itoa(secs) + "s",
		"--timeout", "10s", "-s", c.script}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	args = append(args, target)
	name := c.path
	if c.cpus != "" {
		// taskset execs wrk in its own process: the rusage is wrk's.
		name, args = "taskset", append([]string{"-c", c.cpus, c.path}, args...)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	busy0, _ := machineBusy()
	srv0, err := cpuTime(pid)
	if err != nil {
		return wrkResult{}, fmt.Errorf("server CPU: %w", err)
	}
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	srv1, err2 := cpuTime(pid)
	busy1, _ := machineBusy()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, oneLine(out.String()))
	}
	if err2 != nil {
		return wrkResult{}, fmt.Errorf("server CPU: %w", err2)
	}
	res, err := parseWrk(out.String())
	if err != nil {
		return wrkResult{}, err
	}
	res.Wall = wall
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.GenCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	} else {
		res.GenCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	res.ServerCPU = srv1 - srv0
	res.Busy = busy1 - busy0
	return res, nil
}

// parseWrk reads the line wrkScript prints.
func parseWrk(out string) (wrkResult, error) {
	var line string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "wrk-result "); ok {
			line = rest
		}
	}
	if line == "" {
		return wrkResult{}, fmt.Errorf("wrk printed no result line: %s", oneLine(out))
	}
	var r wrkResult
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	fields := map[string]func(int64){
		"requests":    func(v int64) { r.Requests = v },
		"duration_us": func(v int64) { r.Duration = us(v) },
		"bytes":       func(v int64) { r.Bytes = v },
		"connect":     func(v int64) { r.Connect = v },
		"read":        func(v int64) { r.Read = v },
		"write":       func(v int64) { r.Write = v },
		"status":      func(v int64) { r.Status = v },
		"timeout":     func(v int64) { r.Timeout = v },
		"p50_us":      func(v int64) { r.P50 = us(v) },
		"p90_us":      func(v int64) { r.P90 = us(v) },
		"p99_us":      func(v int64) { r.P99 = us(v) },
		"max_us":      func(v int64) { r.Max = us(v) },
	}
	seen := 0
	for _, kv := range strings.Fields(line) {
		k, v, ok := strings.Cut(kv, "=")
		set, known := fields[k]
		if !ok || !known {
			return wrkResult{}, fmt.Errorf("wrk result: unexpected %q", kv)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return wrkResult{}, fmt.Errorf("wrk result: %s: %w", k, err)
		}
		set(n)
		seen++
	}
	if seen != len(fields) {
		return wrkResult{}, fmt.Errorf("wrk result: %d of %d fields in %q", seen, len(fields), line)
	}
	return r, nil
}

// machineBusy is the CPU time all CPUs together spent on anything but
// idling, from the first line of /proc/stat.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("unexpected /proc/stat")
	}
	var busy int64
	// user nice system idle iowait irq softirq [steal guest guest_nice]:
	// steal is time the hypervisor gave to other machines, and guest time
	// is already counted in user and nice.
	for i, v := range f[1:8] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / clkTck, nil
}

// cpuMark is a moment's CPU counters: the machine's busy time, this
// process's and one server's, to tell later how much of the machine other
// work took in between.
type cpuMark struct {
	at                time.Time
	busy, own, server time.Duration
}

func markCPU(serverPID int) cpuMark {
	m := cpuMark{at: time.Now()}
	m.busy, _ = machineBusy()
	m.own, _ = cpuTime(os.Getpid())
	m.server, _ = cpuTime(serverPID)
	return m
}

// otherSince is the share of the machine, since m, that neither this
// process nor the server used: other programs, interrupts, kernel threads.
func (m cpuMark) otherSince(serverPID int) float64 {
	n := markCPU(serverPID)
	wall := n.at.Sub(m.at)
	if wall <= 0 {
		return 0
	}
	other := (n.busy - m.busy) - (n.own - m.own) - (n.server - m.server)
	return max(0, other.Seconds()/(wall.Seconds()*float64(ncpu())))
}
