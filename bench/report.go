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
	hasTgt bool
}

// report collects the rows and the run's circumstances.
type report struct {
	Machine  machine `json:"machine"`
	Command  string  `json:"command"`
	Rows     []row   `json:"rows"`
	AllPass  bool    `json:"all_pass"`
	Duration string  `json:"duration"`
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
	r.Rows = append(r.Rows, row{Name: name, Target: "measured", Pass: false, Note: "error: " + oneLine(err.Error()), hasTgt: true})
}

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
		if x.hasTgt {
			res = "FAIL"
			if x.Pass {
				res = "pass"
			}
		}
		val := num(x.Value) + " " + x.Unit
		if x.Target == "measured" {
			val = "—"
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s |\n", i+1, x.Name, strings.TrimSpace(val), x.Target, res, x.Note)
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
