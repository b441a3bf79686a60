package main

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    float64
		unit string
		want string
	}{
		{math.NaN(), "ms", "-"},
		{3.14159, "ms", "3.14"},
		{24.44, "ms", "24.4"},
		{1.5, "s", "1.50"},
		{9896.4, "KiB", "9896"},
		{957.3, "MiB", "957"},
	}
	for _, tc := range tests {
		if got := formatValue(tc.v, tc.unit); got != tc.want {
			t.Errorf("formatValue(%v, %s): got %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

func TestWriteReport(t *testing.T) {
	r := newResults()
	for _, v := range []float64{10, 12, 11} {
		r.add("run_ms", "husk", v)
	}
	for _, v := range []float64{20, 22, 21} {
		r.add("run_ms", "crun", v)
	}
	r.add("exec_ms", "husk", 1)
	r.fail("husk", []string{"exec_ms"}, errors.New("husk exec: exit status 1: boom"))
	r.add("exec_ms", "crun", 5)
	info := reportInfo{
		date: "2026-01-01 00:00 UTC", cpus: 2, loadBefore: "0.1", loadAfter: "0.2", rounds: 3,
		runtimes: []runtimeInfo{{"husk", "/h", "husk 0.1"}, {"crun", "/c", "crun 1.8.1"}},
	}
	var out strings.Builder
	if err := writeReport(&out, info, r); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"| metric | husk | crun | husk/crun |",
		"| run /bin/true to exit (ms) | 11.0 | 21.0 | 0.52 |",
		"| exec /bin/true into a running container (ms) | FAIL | 5.00 | - |",
		"- husk, exec_ms: husk exec: exit status 1: boom",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "create (ms)") {
		t.Errorf("report shows a row nobody measured:\n%s", s)
	}
	i := strings.LastIndex(s, "BENCH_JSON ")
	if i < 0 {
		t.Fatalf("no BENCH_JSON line:\n%s", s)
	}
	var js struct {
		Subject  string
		Runtimes map[string]map[string]any
		Ratios   map[string]map[string]float64
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(s[i+len("BENCH_JSON "):])), &js); err != nil {
		t.Fatalf("BENCH_JSON: %v", err)
	}
	if js.Subject != "husk" || js.Runtimes["husk"]["run_ms"] != 11.0 || js.Ratios["husk/crun"]["run_ms"] != 0.524 {
		t.Errorf("BENCH_JSON: got %+v", js)
	}
	if v, ok := js.Runtimes["husk"]["exec_ms"]; !ok || v != nil {
		t.Errorf("failed metric: got %v (present %v), want null", v, ok)
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		max  int
		want string
	}{
		{"a\n\nb\nc\n", 2, 100, "b | c"},
		{"only", 2, 100, "only"},
		{"", 2, 100, ""},
		{"abcdefgh", 1, 4, "...efgh"},
	}
	for _, tc := range tests {
		if got := lastLines(tc.in, tc.n, tc.max); got != tc.want {
			t.Errorf("lastLines(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}
