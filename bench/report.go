package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// row is one line of the result table: a figure, the target it is held
// to, and whether it met it. Rows without a target are context (the
// baseline's own figures, for example) and always pass.
type row struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"`
	Pass   bool    `json:"pass"`
	Note   string  `json:"note,omitempty"`
	// NoValue: the figure was not taken (a measurement failed, or the
	// bench refused to compute it); the row fails.
	NoValue bool `json:"no_value,omitempty"`
	// NA: the figure cannot be taken from this build (the feature it
	// measures does not exist yet); the row neither passes nor fails.
	NA     bool `json:"not_applicable,omitempty"`
	hasTgt bool
}

// roundRow is one round of a load comparison: one side's figures and the
// CPU each process used, as percentages of the whole machine.
type roundRow struct {
	Step        string  `json:"step"`
	Round       int     `json:"round"`
	Side        string  `json:"side"`
	RPS         float64 `json:"rps"`
	P50         float64 `json:"p50_ms"`
	P99         float64 `json:"p99_ms"`
	Gen         float64 `json:"generator_cpu_pct"`
	Server      float64 `json:"server_cpu_pct"`
	Other       float64 `json:"other_cpu_pct"`
	ServerUs    float64 `json:"server_cpu_us_per_request"`
	BytesPerReq int64   `json:"bytes_per_request"`
}

// report collects the rows and the run's circumstances.
type report struct {
	Machine  machine    `json:"machine"`
	Command  string     `json:"command"`
	Rows     []row      `json:"rows"`
	Rounds   []roundRow `json:"rounds,omitempty"`
	AllPass  bool       `json:"all_pass"`
	Duration string     `json:"duration"`
}

type machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	MemTotal string `json:"mem_total"`
	GoOS     string `json:"goos"`
	GoArch   string `json:"goarch"`
	Go       string `json:"go"`
}

// info adds a figure with no target.
func (r *report) info(name string, v float64, unit, note string) {
	r.Rows = append(r.Rows, row{Name: name, Value: v, Unit: unit, Pass: true, Note: note})
}

// atLeast adds a figure that must be >= min.
func (r *report) atLeast(name string, v float64, unit string, min float64, note string) {
	r.Rows = append(r.Rows, row{Name: name, Value: v, Unit: unit, Target: ">= " + num(min), Pass: v >= min, Note: note, hasTgt: true})
}

// atMost adds a figure that must be <= max.
func (r *report) atMost(name string, v float64, unit string, max float64, note string) {
	r.Rows = append(r.Rows, row{Name: name, Value: v, Unit: unit, Target: "<= " + num(max), Pass: v <= max, Note: note, hasTgt: true})
}

// below adds a figure that must be < max.
func (r *report) below(name string, v float64, unit string, max float64, note string) {
	r.Rows = append(r.Rows, row{Name: name, Value: v, Unit: unit, Target: "< " + num(max), Pass: v < max, Note: note, hasTgt: true})
}

// exactly adds a figure that must equal want.
func (r *report) exactly(name string, v float64, unit string, want float64, note string) {
	r.Rows = append(r.Rows, row{Name: name, Value: v, Unit: unit, Target: "= " + num(want), Pass: v == want, Note: note, hasTgt: true})
}

// failed adds a row for a measurement that could not be taken.
func (r *report) failed(name string, err error) {
	r.Rows = append(r.Rows, row{Name: name, Target: "measured", Pass: false, NoValue: true, Note: "error: " + oneLine(err.Error()), hasTgt: true})
}

// refused adds a target row without a figure: the bench measured, but
// what it measured cannot support the figure (the note says why). It
// fails: a target is not met by a figure nobody can trust.
func (r *report) refused(name, target, note string) {
	r.Rows = append(r.Rows, row{Name: name, Target: target, Pass: false, NoValue: true, Note: oneLine(note), hasTgt: true})
}

// notApplicable adds a target that this build has nothing to measure for.
func (r *report) notApplicable(name, target, note string) {
	r.Rows = append(r.Rows, row{Name: name, Target: target, Pass: true, NoValue: true, NA: true, Note: note, hasTgt: true})
}

// round adds a line to the rounds table.
func (r *report) round(x roundRow) { r.Rounds = append(r.Rounds, x) }

// oneLine keeps a table cell on one line: a server's log tail in an error
// becomes its lines joined by " / ", cut to a readable length.
func oneLine(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	s = strings.Join(lines, " / ")
	s = strings.ReplaceAll(s, "|", "¦")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

func (r *report) allPass() bool {
	for _, x := range r.Rows {
		if !x.Pass {
			return false
		}
	}
	return true
}

// num prints a figure with as many decimals as it needs to be read.
func num(v float64) string {
	switch a := abs(v); {
	case a == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	default:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// print writes the table as Markdown, so it can go into docs unchanged.
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "| # | measure | value | target | result | note |\n|---|---|---:|---|---|---|\n")
	for i, x := range r.Rows {
		res := ""
		switch {
		case x.NA:
			res = "n/a"
		case x.hasTgt && x.Pass:
			res = "pass"
		case x.hasTgt:
			res = "FAIL"
		}
		val := num(x.Value) + " " + x.Unit
		if x.NoValue {
			val = "—"
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s |\n", i+1, x.Name, strings.TrimSpace(val), x.Target, res, x.Note)
	}
	if len(r.Rounds) > 0 {
		fmt.Fprintf(w, "\nRounds (CPU as %% of the whole machine: user+system time over wall time × CPUs; other = the machine's busy time charged to neither: other programs, interrupts, kernel threads):\n\n")
		fmt.Fprintf(w, "| step | round | side | req/s | p50 ms | p99 ms | generator CPU | server CPU | other CPU | server µs/req | bytes/req |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range r.Rounds {
			fmt.Fprintf(w, "| %s | %d | %s | %.0f | %.2f | %.2f | %.0f%% | %.0f%% | %.0f%% | %.1f | %d |\n",
				x.Step, x.Round, x.Side, x.RPS, x.P50, x.P99, x.Gen, x.Server, x.Other, x.ServerUs, x.BytesPerReq)
		}
	}
	verdict := "every target passed"
	if !r.allPass() {
		verdict = "SOME TARGETS FAILED"
	}
	fmt.Fprintf(w, "\n%s (run took %s)\n", verdict, r.Duration)
}

// writeJSON writes the report to path.
func (r *report) writeJSON(path string) error {
	r.AllPass = r.allPass()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
