package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// moduleRoot finds the directory of go.mod, so the tool works from any
// directory inside the repository.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the gatehouse module; run from the repository")
	}
	return filepath.Dir(mod), nil
}

// buildGatehouse compiles the server exactly as a user would, into dir.
func buildGatehouse(root, dir string) (string, error) {
	bin := filepath.Join(dir, "gatehouse")
	return bin, goBuild(root, bin)
}

//go:embed cpuprofile_hook.go
var cpuprofileHook string

// buildProfiling compiles the server with cpuprofile_hook.go added to its
// package main through an overlay: nothing in the repository changes, and
// the hook sleeps unless the environment asks for it.
func buildProfiling(root, dir string) (string, error) {
	src := filepath.Join(dir, "cpuprofile_hook.go")
	// Without the build constraint that keeps it out of the bench.
	hook := strings.Replace(cpuprofileHook, "//go:build ignore\n", "", 1)
	if err := os.WriteFile(src, []byte(hook), 0o644); err != nil {
		return "", err
	}
	overlay, err := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(root, "zz_bench_cpuprofile_hook.go"): src},
	})
	if err != nil {
		return "", err
	}
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "gatehouse-profiling")
	return bin, goBuild(root, bin, "-overlay", ov)
}

func goBuild(root, bin string, flags ...string) error {
	args := append(append([]string{"build"}, flags...), "-o", bin, ".")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}

// process is a server running as a child process, so its memory and CPU
// can be read from /proc without the load generator's own counted in.
type process struct {
	cmd     *exec.Cmd
	url     string
	started time.Time // just before exec
	ready   time.Duration
	logPath string
	profile string // where the profiling hook writes, if the binary has it
}

// freePort asks the kernel for a free loopback port. Another program could
// take it before the server binds it; on a benchmark machine that does not
// happen in practice, and start reports it if it does.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// startProcess runs bin with args (where "ADDR" is replaced by a free
// port) and waits until readyPath answers 200. Its log goes to a file, so
// the load generator spends nothing reading it; cold start is measured
// from just before exec to that first answer.
func startProcess(bin string, args []string, readyPath, logPath string, env []string) (*process, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	full := make([]string, len(args))
	for i, a := range args {
		full[i] = strings.ReplaceAll(a, "ADDR", addr)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, full...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = append(childEnv(os.Environ()), env...)
	p := &process{cmd: cmd, url: "http://" + addr, logPath: logPath}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	deadline := p.started.Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return nil, fmt.Errorf("%s exited at start; log:\n%s", filepath.Base(bin), tail(logPath))
		default:
		}
		resp, err := client.Get(p.url + readyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.ready = time.Since(p.started)
				return p, nil
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	p.stop()
	return nil, fmt.Errorf("%s did not answer %s within 30s; log:\n%s", filepath.Base(bin), readyPath, tail(logPath))
}

// stop ends the server the way an operator does (SIGTERM) and waits for
// its graceful stop.
func (p *process) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for {
			if err := p.cmd.Process.Signal(syscall.Signal(0)); err != nil {
				close(done)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// memKiB reads a "Vm..." line (VmRSS, VmHWM) of /proc/PID/status in KiB.
func memKiB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", field, pid)
}

// clkTck is the kernel's clock tick for /proc times; 100 on every Linux
// configuration Go supports in practice.
const clkTck = 100

// cpuTime is the user+system CPU time a process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after it are
	// counted from the closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clkTck, nil
}

// minorFaults is the number of minor page faults a process has taken so
// far: each is a page the kernel mapped in (and zeroed, for fresh memory),
// which is how memory the Go runtime returned to the system comes back.
func minorFaults(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 8 {
		return 0, errors.New("short /proc stat")
	}
	return strconv.ParseInt(f[7], 10, 64)
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// waitCtx sleeps for d unless ctx ends first.
func waitCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// pinProcess restricts every thread of process pid to the given CPUs;
// threads it starts afterwards inherit that. Two passes, for a thread
// started by one not yet pinned while the first pass ran.
func pinProcess(pid int, cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	for range 2 {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("pin process %d: %w", pid, err)
			}
		}
	}
	return nil
}

// godebugWas holds the GODEBUG the bench was started with, from before
// it re-executed itself with preempt.ByCallsOnly.
const godebugWas = "GATEHOUSE_BENCH_GODEBUG"

// childEnv is environ with GODEBUG put back as the bench was started, so
// that a Gatehouse it starts sets its runtime up itself (and pays for
// that in the cold start) and a baseline runs with the defaults.
func childEnv(environ []string) []string {
	var env []string
	was, found := "", false
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, godebugWas+"="); ok {
			was, found = v, true
			continue
		}
		if strings.HasPrefix(kv, "GODEBUG=") {
			continue
		}
		env = append(env, kv)
	}
	if !found {
		return environ
	}
	if was != "" {
		env = append(env, "GODEBUG="+was)
	}
	return env
}
