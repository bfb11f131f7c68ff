package main

import (
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestReportTable(t *testing.T) {
	var r report
	r.info("baseline throughput", 12345.6, "req/s", "")
	r.atLeast("ratio", 0.42, "", 0.5, "too slow")
	r.below("peak RSS", 100, "MiB", 256, "")
	var b strings.Builder
	r.print(&b)
	out := b.String()
	for _, want := range []string{
		"| 1 | baseline throughput | 12346 req/s |  |  |  |",
		"| 2 | ratio | 0.42 | >= 0.5 | FAIL | too slow |",
		"| 3 | peak RSS | 100.0 MiB | < 256.0 | pass |  |",
		"SOME TARGETS FAILED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if r.allPass() {
		t.Error("allPass with a failing row")
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.5: "0.5", 1.25: "1.25", 2: "2", 150: "150.0", 4321.4: "4321"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestFailedRowIsOneLine(t *testing.T) {
	var r report
	r.failed("step", errorString("gatehouse exited; log:\nline one | x\n\nline two\n"))
	if got, want := r.Rows[0].Note, "error: gatehouse exited; log: / line one ¦ x / line two"; got != want {
		t.Errorf("note = %q, want %q", got, want)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestRefusedAndNotApplicableRows(t *testing.T) {
	var r report
	r.notApplicable("forward-auth", ">= 0.5", "no such route")
	if !r.allPass() {
		t.Error("an n/a row failed the run")
	}
	r.refused("page ratio", ">= 0.5", "no ratio: wrk used 60% of the machine")
	r.round(roundRow{Step: "page", Round: 1, Side: "baseline", RPS: 45000, P50: 1.2, P99: 5.7, Gen: 31, Server: 60, Other: 2, ServerUs: 26.4, BytesPerReq: 3009})
	var b strings.Builder
	r.print(&b)
	out := b.String()
	for _, want := range []string{
		"| 1 | forward-auth | — | >= 0.5 | n/a | no such route |",
		"| 2 | page ratio | — | >= 0.5 | FAIL | no ratio: wrk used 60% of the machine |",
		"| page | 1 | baseline | 45000 | 1.20 | 5.70 | 31% | 60% | 2% | 26.4 | 3009 |",
		"SOME TARGETS FAILED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if r.allPass() {
		t.Error("a refused figure passed")
	}
}

// The generator's share is its CPU over the rounds' wall time on every
// CPU, added up over rounds as the rows print it.
func TestGenShare(t *testing.T) {
	var total formResult
	total.add(formResult{Elapsed: time.Second, GenCPU: 20 * time.Millisecond})
	total.add(formResult{Elapsed: time.Second, GenCPU: 60 * time.Millisecond})
	want := 0.08 / (2 * float64(runtime.NumCPU()))
	if got := total.genShare(); math.Abs(got-want) > 1e-9 {
		t.Errorf("genShare = %v, want %v", got, want)
	}
	if got := (formResult{}).genShare(); got != 0 {
		t.Errorf("genShare of nothing = %v, want 0", got)
	}
}
