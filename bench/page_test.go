package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out := "Running 5s test @ http://127.0.0.1:1/dashboard\n  2 threads and 64 connections\n" +
		"wrk-result requests=45000 duration_us=5000000 bytes=151200000 connect=0 read=1 write=0 status=2 timeout=3 p50_us=1200 p90_us=2500 p99_us=5700 max_us=40000\n"
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 45000 || r.Duration != 5*time.Second || r.Bytes != 151200000 || r.errors() != 6 ||
		r.P50 != 1200*time.Microsecond || r.P99 != 5700*time.Microsecond || r.Max != 40*time.Millisecond {
		t.Errorf("parsed %+v", r)
	}
	if got := r.rps(); got != 9000 {
		t.Errorf("rps = %v, want 9000", got)
	}
	for _, bad := range []string{
		"Requests/sec: 9000\n", // no result line: the script did not run
		"wrk-result requests=1 duration_us=1\n",
		"wrk-result requests=x duration_us=1 bytes=1 connect=0 read=0 write=0 status=0 timeout=0 p50_us=1 p90_us=1 p99_us=1 max_us=1\n",
	} {
		if _, err := parseWrk(bad); err == nil {
			t.Errorf("parseWrk(%q) accepted", bad)
		}
	}
}

// round makes a wrk round of 10 s on a 2-CPU machine (the share helpers
// use runtime.NumCPU, so shares are given as CPU seconds per 10 s of
// wall time per CPU).
func round(rps float64, gen float64, bytesPerReq int64) wrkResult {
	wall := 10 * time.Second
	n := int64(rps * wall.Seconds())
	return wrkResult{
		Requests: n, Duration: wall, Bytes: n * bytesPerReq, Wall: wall,
		GenCPU: time.Duration(gen * float64(wall) * float64(ncpu())),
		P99:    time.Millisecond,
	}
}

func rounds(rps []float64, gen float64) []wrkResult {
	var out []wrkResult
	for _, r := range rps {
		out = append(out, round(r, gen, 3000))
	}
	return out
}

func TestJudgePage(t *testing.T) {
	const body = 2900
	ceiling := rounds([]float64{60000, 62000, 61000}, 0.4)
	base := rounds([]float64{40000, 45000, 44000}, 0.3)
	gh := rounds([]float64{9000, 8800, 9100}, 0.1)

	v := judgePage(pageRounds{ceiling, base, gh}, body, 0)
	if len(v.refusal) > 0 {
		t.Fatalf("refused a fair run: %v", v.refusal)
	}
	// Per-round ratios 0.225, 0.196, 0.207: the median is the round 3 one.
	if want := 9100.0 / 44000; v.ratio < want-1e-9 || v.ratio > want+1e-9 {
		t.Errorf("ratio = %v, want %v", v.ratio, want)
	}

	cases := []struct {
		name string
		r    pageRounds
		want string
	}{
		{"generator over half the machine", pageRounds{ceiling, rounds([]float64{40000, 45000, 44000}, 0.55), gh},
			"wrk used 55% of the machine in baseline round 1"},
		{"baseline at the ceiling", pageRounds{ceiling, rounds([]float64{58000, 59000, 60000}, 0.3), gh},
			"reached 0.97 of the generator's ceiling"},
		{"answers smaller than the page (a 303)", pageRounds{ceiling, base, []wrkResult{round(9000, 0.1, 3000), round(20000, 0.1, 300), round(9000, 0.1, 3000)}},
			"Gatehouse round 2: 200000 requests, 300 bytes each, less than the 2900-byte page"},
		{"wrk errors", pageRounds{ceiling, base, func() []wrkResult { g := rounds([]float64{9000, 9000, 9000}, 0.1); g[0].Timeout = 4; return g }()},
			"Gatehouse round 1: 4 wrk errors"},
		{"no rounds", pageRounds{ceiling, base, nil}, "no Gatehouse rounds"},
	}
	// Pinned (wrk on one CPU): the ceiling rule gives way to wrk's own
	// CPU. A baseline near the ceiling is fine when wrk had room to spare
	// (60% of its CPU), refused when it had not (90%).
	ofOneCPU := func(own float64) float64 { return own / float64(ncpu()) }
	near := []float64{58000, 59000, 60000}
	if v := judgePage(pageRounds{ceiling, rounds(near, ofOneCPU(0.6)), rounds([]float64{9000, 8800, 9100}, ofOneCPU(0.2))}, body, 1); len(v.refusal) > 0 {
		t.Errorf("pinned, wrk at 60%% of its CPU: refused %v", v.refusal)
	}
	if v := judgePage(pageRounds{ceiling, rounds(near, ofOneCPU(0.9)), gh}, body, 1); !strings.Contains(strings.Join(v.refusal, "; "), "wrk used 90% of its own CPUs in baseline round 1") {
		t.Errorf("pinned, wrk at 90%% of its CPU: refusal %v", v.refusal)
	}
	for _, c := range cases {
		v := judgePage(c.r, body, 0)
		if got := strings.Join(v.refusal, "; "); !strings.Contains(got, c.want) {
			t.Errorf("%s: refusal %q, want it to say %q", c.name, got, c.want)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
