// Package preempt starts the program again with the Go runtime's
// signal-based preemption turned off (GODEBUG=asyncpreemptoff=1).
//
// Why: under a steady stream of sign-ins both cores run argon2id for
// ~22 ms at a time. The runtime's monitor thread then keeps finding a
// processor that has run one goroutine for 10 ms, and preempts it with a
// signal; each time it also takes back a processor from a goroutine that
// is in a system call or a SQLite call, which makes it poll every 20 µs
// again. On the 2-core machine of docs/PERFORMANCE.md that meant 3,000-4,000
// context switches a second against ~700 in a plain hashing loop, and
// 3-9% fewer sign-ins a second. Without the signals the runtime still
// preempts at function calls, and argon2id calls a function for every
// 1 KiB block, so no goroutine runs unpreemptible for long.
//
// The runtime reads asyncpreemptoff only when the process starts, and a
// //go:debug line cannot set it, so the process replaces itself (same
// PID, same arguments and streams) with the setting in its environment.
// Every gatehouse command does (package atstart, imported by main); an
// operator's own GODEBUG=asyncpreemptoff=0 keeps the runtime's default.
// The replacement costs a start about 12-16 ms.
package preempt

import (
	"os"
	"runtime"
	"strings"
	"syscall"
)

// setting is what ByCallsOnly adds to GODEBUG.
const setting = "asyncpreemptoff=1"

// ByCallsOnly re-executes the program with GODEBUG=asyncpreemptoff=1,
// unless GODEBUG already says anything about asyncpreemptoff (the
// operator chose, or this is the re-executed process) or the system has
// no /proc/self/exe. It returns only when it did not re-execute; a failed
// exec leaves the process as it was.
func ByCallsOnly() {
	if runtime.GOOS != "linux" {
		return
	}
	godebug, env := split(os.Environ())
	if chosen(godebug) {
		return
	}
	if godebug != "" {
		godebug += ","
	}
	env = append(env, "GODEBUG="+godebug+setting)
	syscall.Exec("/proc/self/exe", os.Args, env)
}

// split returns the value of GODEBUG and the environment without it.
func split(environ []string) (string, []string) {
	var godebug string
	env := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			godebug = v
			continue
		}
		env = append(env, kv)
	}
	return godebug, env
}

// chosen reports whether godebug sets asyncpreemptoff to anything.
func chosen(godebug string) bool {
	for _, kv := range strings.Split(godebug, ",") {
		if strings.HasPrefix(strings.TrimSpace(kv), "asyncpreemptoff=") {
			return true
		}
	}
	return false
}
