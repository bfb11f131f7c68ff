//go:build ignore

// This file is not part of the bench. With -cpuprofile, the bench builds
// Gatehouse with it added to package main (go build -overlay), so that
// the real server, started as usual, can be profiled with runtime/pprof
// while wrk loads it. It does nothing unless GATEHOUSE_BENCH_CPUPROFILE
// names a file: then SIGUSR1 starts a CPU profile into FILE.part, and
// SIGUSR2 stops it and renames it to FILE.

package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func init() {
	path := os.Getenv("GATEHOUSE_BENCH_CPUPROFILE")
	if path == "" {
		return
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		var f *os.File
		for s := range sig {
			switch {
			case s == syscall.SIGUSR1 && f == nil:
				var err error
				if f, err = os.Create(path + ".part"); err != nil {
					fmt.Fprintln(os.Stderr, "bench cpuprofile:", err)
					continue
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					fmt.Fprintln(os.Stderr, "bench cpuprofile:", err)
					f.Close()
					f = nil
				}
			case s == syscall.SIGUSR2 && f != nil:
				pprof.StopCPUProfile()
				err := f.Close()
				f = nil
				if err == nil {
					err = os.Rename(path+".part", path)
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "bench cpuprofile:", err)
				}
			}
		}
	}()
}
