package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// metric is one row of the report.
type metric struct {
	key  string // JSON key
	desc string // table label
	unit string // ms, s, KiB, MiB
	row  string // SKIP name of the row that measures it
}

// metrics lists the report's rows in order.
var metrics = []metric{
	{"run_ms", "run /bin/true to exit (ms)", "ms", "run"},
	{"run_seccomp_ms", "run /bin/true, Docker-like seccomp profile (ms)", "ms", "seccomp"},
	{"create_ms", "create (ms)", "ms", "split"},
	{"start_ms", "start (ms)", "ms", "split"},
	{"wait_ms", "start returned to init exit (ms)", "ms", "split"},
	{"delete_ms", "delete (ms)", "ms", "split"},
	{"lifecycle_ms", "create+start+wait+delete (ms)", "ms", "split"},
	{"exec_ms", "exec /bin/true into a running container (ms)", "ms", "exec"},
	{"seq100_s", "100 containers in sequence (s)", "s", "seq"},
	{"cpu_per_container_ms", "CPU per container, user+sys of children (ms)", "ms", "seq"},
	{"par20_s", "20 lifecycles in parallel (wall s)", "s", "par"},
	{"created_init_rss_kib", "RSS of a created container's init (KiB)", "KiB", "rss"},
	{"create_peak_rss_kib", "peak RSS of the runtime during create (KiB)", "KiB", "rss"},
	{"created100_rss_sum_mib", "RSS of 100 created inits (MiB)", "MiB", "many"},
	{"create_while_many_ms", "create while up to 100 exist (ms)", "ms", "many"},
	{"state_ms", "state with 100 created (ms)", "ms", "many"},
	{"list_ms", "list with 100 created (ms)", "ms", "many"},
	{"delete_created_ms", "delete -f of a created container (ms)", "ms", "many"},
}

// metricKeys returns the keys of the metrics measured by row.
func metricKeys(row string) []string {
	var keys []string
	for _, m := range metrics {
		if m.row == row {
			keys = append(keys, m.key)
		}
	}
	return keys
}

// reportInfo is the run's context printed above the table.
type reportInfo struct {
	date        string
	cpus        int
	loadBefore  string
	loadAfter   string
	quick       bool
	rounds      int
	elapsed     float64 // seconds
	interrupted bool
	runtimes    []runtimeInfo
	notes       []string
}

// runtimeInfo names one runtime in the report.
type runtimeInfo struct{ label, path, version string }

// formatValue prints v in unit's usual precision.
func formatValue(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case unit == "s":
		return fmt.Sprintf("%.2f", v)
	case unit == "KiB" || unit == "MiB":
		return fmt.Sprintf("%.0f", v)
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

// cell is one runtime's value for one metric.
type cell struct {
	median float64 // NaN when not measured or failed
	failed bool
	n      int
	p25    float64
	p75    float64
}

func cellOf(r *results, m metric, label string) cell {
	xs := r.get(m.key, label)
	c := cell{median: math.NaN(), n: len(xs), p25: quantile(xs, 0.25), p75: quantile(xs, 0.75)}
	if r.failure(m.key, label) != "" {
		c.failed = true
		return c
	}
	c.median = median(xs)
	return c
}

// ratio returns a/b, or NaN when either is missing.
func ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return math.NaN()
	}
	return a / b
}

// writeReport writes the markdown report and the BENCH_JSON line. The first
// runtime is the subject of the ratio columns.
func writeReport(w io.Writer, info reportInfo, r *results) error {
	var b strings.Builder
	labels := make([]string, len(info.runtimes))
	for i, rt := range info.runtimes {
		labels[i] = rt.label
	}
	subject, others := labels[0], labels[1:]

	fmt.Fprintf(&b, "## husk lifecycle benchmark\n\n")
	fmt.Fprintf(&b, "%s, %d CPUs, load %s -> %s, QUICK=%d, %d rounds, %.0f s",
		info.date, info.cpus, info.loadBefore, info.loadAfter, btoi(info.quick), info.rounds, info.elapsed)
	if info.interrupted {
		b.WriteString(", INTERRUPTED (partial results)")
	}
	b.WriteString("\n\n")
	for _, rt := range info.runtimes {
		fmt.Fprintf(&b, "- %s: %s (%s)\n", rt.label, rt.path, rt.version)
	}
	for _, n := range info.notes {
		fmt.Fprintf(&b, "- note: %s\n", n)
	}
	fmt.Fprintf(&b, "\nMedians of interleaved rounds. %s/X = median(%s) / median(X): below 1 means %s is better (lower is better in every row). FAIL: the runtime failed this row (errors below).\n\n",
		subject, subject, subject)

	b.WriteString("| metric |")
	for _, l := range labels {
		fmt.Fprintf(&b, " %s |", l)
	}
	for _, o := range others {
		fmt.Fprintf(&b, " %s/%s |", subject, o)
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---:|", len(labels)+len(others)))
	b.WriteString("\n")

	js := benchJSON{
		Date: info.date, CPUs: info.cpus, Quick: info.quick, Rounds: info.rounds,
		Subject: subject, Interrupted: info.interrupted,
		Runtimes: map[string]map[string]any{}, Ratios: map[string]map[string]float64{},
	}
	for _, rt := range info.runtimes {
		js.Runtimes[rt.label] = map[string]any{"path": rt.path, "version": rt.version}
	}
	var spread strings.Builder
	for _, m := range metrics {
		cells := make([]cell, len(labels))
		any := false
		for i, l := range labels {
			cells[i] = cellOf(r, m, l)
			if cells[i].failed || cells[i].n > 0 {
				any = true
			}
		}
		if !any {
			continue // row skipped
		}
		fmt.Fprintf(&b, "| %s |", m.desc)
		fmt.Fprintf(&spread, "| %s |", m.desc)
		for i, c := range cells {
			switch {
			case c.failed:
				b.WriteString(" FAIL |")
				js.Runtimes[labels[i]][m.key] = nil
			default:
				fmt.Fprintf(&b, " %s |", formatValue(c.median, m.unit))
				if !math.IsNaN(c.median) {
					js.Runtimes[labels[i]][m.key] = round3(c.median)
				}
			}
			if c.n > 0 {
				fmt.Fprintf(&spread, " %s..%s (%d) |", formatValue(c.p25, m.unit), formatValue(c.p75, m.unit), c.n)
			} else {
				spread.WriteString(" - |")
			}
		}
		for i := range others {
			q := ratio(cells[0].median, cells[i+1].median)
			key := subject + "/" + others[i]
			if math.IsNaN(q) {
				b.WriteString(" - |")
				continue
			}
			fmt.Fprintf(&b, " %.2f |", q)
			if js.Ratios[key] == nil {
				js.Ratios[key] = map[string]float64{}
			}
			js.Ratios[key][m.key] = round3(q)
		}
		b.WriteString("\n")
		spread.WriteString("\n")
	}

	b.WriteString("\nSpread: p25..p75 (samples)\n\n| metric |")
	for _, l := range labels {
		fmt.Fprintf(&b, " %s |", l)
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(labels)) + "\n")
	b.WriteString(spread.String())

	var failLines []string
	for _, l := range labels {
		byMsg := map[string][]string{}
		for _, m := range metrics {
			if msg := r.failure(m.key, l); msg != "" {
				byMsg[msg] = append(byMsg[msg], m.key)
			}
		}
		msgs := make([]string, 0, len(byMsg))
		for msg := range byMsg {
			msgs = append(msgs, msg)
		}
		sort.Strings(msgs)
		for _, msg := range msgs {
			failLines = append(failLines, fmt.Sprintf("- %s, %s: %s", l, strings.Join(byMsg[msg], " "), msg))
			fails, _ := js.Runtimes[l]["failed"].(map[string]string)
			if fails == nil {
				fails = map[string]string{}
				js.Runtimes[l]["failed"] = fails
			}
			for _, k := range byMsg[msg] {
				fails[k] = msg
			}
		}
	}
	if len(failLines) > 0 {
		b.WriteString("\nFailures (first error per runtime and row):\n\n")
		b.WriteString(strings.Join(failLines, "\n"))
		b.WriteString("\n")
	}

	line, err := json.Marshal(js)
	if err != nil {
		return fmt.Errorf("encode report json: %w", err)
	}
	fmt.Fprintf(&b, "\nBENCH_JSON %s\n", line)
	_, err = io.WriteString(w, b.String())
	return err
}

// benchJSON is the machine-readable summary. Runtimes holds, per label,
// path, version, each metric's median (null when the row failed) and
// "failed": {metric: error}.
type benchJSON struct {
	Date        string                        `json:"date"`
	CPUs        int                           `json:"cpus"`
	Quick       bool                          `json:"quick"`
	Rounds      int                           `json:"rounds"`
	Interrupted bool                          `json:"interrupted,omitempty"`
	Subject     string                        `json:"subject"`
	Runtimes    map[string]map[string]any     `json:"runtimes"`
	Ratios      map[string]map[string]float64 `json:"ratios"`
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
