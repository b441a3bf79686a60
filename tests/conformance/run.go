package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// runConfig holds the flags of "conformance run".
type runConfig struct {
	runtime, dir, work, known, baseline, only, prove string
	timeout                                          time.Duration
	isolate, writeBaseline                           bool
}

func runMain(args []string) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: find own executable: %v\n", err)
		return 2
	}
	var c runConfig
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	defRuntime := os.Getenv("RUNTIME")
	if defRuntime == "" {
		defRuntime = "./husk"
	}
	fs.StringVar(&c.runtime, "runtime", defRuntime, "runtime binary under test (default $RUNTIME or ./husk)")
	fs.StringVar(&c.dir, "dir", filepath.Dir(self), "build directory holding validation/, runtimetest and rootfs-"+runtime.GOARCH+".tar.gz")
	fs.StringVar(&c.work, "work", "", "scratch and results directory (default DIR/work)")
	fs.StringVar(&c.known, "known-failures", "tests/conformance/known-failures.txt", "known-failure list")
	fs.StringVar(&c.baseline, "baseline", "tests/conformance/baseline.txt", "minimum passing programs per runtime")
	fs.StringVar(&c.only, "run", "", "run only the programs matching this regular expression")
	fs.StringVar(&c.prove, "prove", "prove", "TAP harness to drive the programs; empty runs them directly")
	fs.DurationVar(&c.timeout, "timeout", 90*time.Second, "timeout per validation program")
	fs.BoolVar(&c.isolate, "isolate-mounts", true, "run each program in a private mount namespace")
	fs.BoolVar(&c.writeBaseline, "write-baseline", false, "record this run's pass count as the runtime's baseline")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.work == "" {
		c.work = filepath.Join(c.dir, "work")
	}
	code, err := run(c, self, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		return 2
	}
	return code
}

// verdict classifies one program's result against the known-failure list.
type verdict string

const (
	verdictPass  verdict = "PASS"
	verdictFail  verdict = "FAIL"  // failed and not listed: a regression
	verdictXFail verdict = "XFAIL" // failed and listed as a known failure
	verdictXPass verdict = "XPASS" // passed although listed: update the list
)

func (v verdict) passed() bool { return v == verdictPass || v == verdictXPass }

func run(c runConfig, self string, w io.Writer) (int, error) {
	if os.Geteuid() != 0 {
		return 0, errors.New("the validation suite needs root")
	}
	rt, err := exec.LookPath(c.runtime)
	if err != nil {
		return 0, fmt.Errorf("runtime %s: %w (build it or pass RUNTIME=/path/to/runtime)", c.runtime, err)
	}
	if rt, err = filepath.Abs(rt); err != nil {
		return 0, fmt.Errorf("resolve runtime: %w", err)
	}
	rtName := filepath.Base(rt)
	known, err := readList(c.known, parseKnownFailures)
	if err != nil {
		return 0, err
	}
	base, err := readList(c.baseline, parseBaseline)
	if err != nil {
		return 0, err
	}
	progs, err := listPrograms(filepath.Join(c.dir, "validation"), c.only)
	if err != nil {
		return 0, err
	}
	work, err := filepath.Abs(c.work)
	if err != nil {
		return 0, fmt.Errorf("resolve work dir: %w", err)
	}
	results := filepath.Join(work, "results")
	if _, err := removeDir(work); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(results, 0o755); err != nil {
		return 0, fmt.Errorf("make results dir: %w", err)
	}
	dir, err := filepath.Abs(c.dir)
	if err != nil {
		return 0, fmt.Errorf("resolve build dir: %w", err)
	}
	env := []string{
		envRuntime + "=" + rt, envWork + "=" + work, envResults + "=" + results,
		envRuntimetest + "=" + filepath.Join(dir, "runtimetest"),
		envRootfs + "=" + filepath.Join(dir, fmt.Sprintf("rootfs-%s.tar.gz", runtime.GOARCH)),
		envTimeout + "=" + c.timeout.String(), envIsolate + "=" + map[bool]string{true: "1", false: "0"}[c.isolate],
	}
	for _, f := range []string{"runtimetest", fmt.Sprintf("rootfs-%s.tar.gz", runtime.GOARCH)} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return 0, fmt.Errorf("build output missing: %w (run make conformance-build)", err)
		}
	}

	fmt.Fprintf(w, "conformance: %d programs against %s, timeout %s each\n", len(progs), rt, c.timeout)
	start := time.Now()
	if err := drive(c, self, progs, env, w); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)

	// Tally.
	var rows []row
	totals := struct{ points, ok, notOK, skipped int }{}
	for _, p := range progs {
		r := row{name: filepath.Base(p)}
		res, err := readResult(filepath.Join(results, r.name+".json"))
		if err != nil {
			r.res = &result{Program: r.name}
			r.res.TAP.Failed = 1
			r.res.TAP.Failures = []string{"harness: no result recorded: " + err.Error()}
		} else {
			r.res = res
		}
		reason, isKnown := known.lookup(r.name, rtName)
		switch ok := r.res.TAP.OK(); {
		case ok && isKnown:
			r.v, r.note = verdictXPass, "listed as known failure, now passes: "+reason
		case ok:
			r.v = verdictPass
		case isKnown:
			r.v, r.note = verdictXFail, "known: "+reason
		default:
			r.v, r.note = verdictFail, firstFailure(r.res)
		}
		totals.points += r.res.TAP.Points
		totals.ok += r.res.TAP.Passed
		totals.notOK += r.res.TAP.Failed
		totals.skipped += r.res.TAP.Skipped
		rows = append(rows, r)
	}

	table := renderTable(rows)
	_ = os.WriteFile(filepath.Join(results, "summary.txt"), []byte(table), 0o644)
	fmt.Fprintf(w, "\n%s\n", table)
	count := map[verdict]int{}
	for _, r := range rows {
		count[r.v]++
	}
	passed := count[verdictPass] + count[verdictXPass]
	failed := count[verdictFail] + count[verdictXFail]
	fmt.Fprintf(w, "runtime %s (%s): %d programs in %.1fs; test points: %d ok, %d not ok, %d skipped\n",
		rtName, rt, len(rows), elapsed.Seconds(), totals.ok, totals.notOK, totals.skipped)
	fmt.Fprintf(w, "known failures: %d; unexpected failures: %d; known failures that now pass: %d\n",
		count[verdictXFail], count[verdictFail], count[verdictXPass])
	fmt.Fprintf(w, "results: %s\n", results)

	code := 0
	if count[verdictFail] > 0 {
		var names []string
		for _, r := range rows {
			if r.v == verdictFail {
				names = append(names, r.name)
			}
		}
		fmt.Fprintf(w, "FAIL: not on the known-failure list: %s\n", strings.Join(names, " "))
		code = 1
	}
	if min, ok := base[rtName]; ok && c.only == "" {
		if passed < min {
			fmt.Fprintf(w, "FAIL: %d programs passed, below the baseline of %d for %s\n", passed, min, rtName)
			code = 1
		} else if passed > min {
			fmt.Fprintf(w, "baseline for %s is %d; this run passed %d: raise it with -write-baseline\n", rtName, min, passed)
		}
	} else if !ok {
		fmt.Fprintf(w, "no baseline recorded for %s in %s\n", rtName, c.baseline)
	}
	if c.writeBaseline && c.only == "" {
		if err := writeBaseline(c.baseline, rtName, passed); err != nil {
			return 0, err
		}
		fmt.Fprintf(w, "baseline for %s set to %d in %s\n", rtName, passed, c.baseline)
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	return code, nil
}

// drive runs every program through prove (or directly when c.prove is
// empty); the exec hook writes the results.
func drive(c runConfig, self string, progs, env []string, w io.Writer) error {
	if c.prove != "" {
		if strings.ContainsAny(self, " \t") {
			return fmt.Errorf("conformance binary path %q holds a space, which prove --exec cannot pass", self)
		}
		// -j1: the programs share cgroup names such as /cgrouptest.
		args := append([]string{"--exec", self + " exec", "--timer", "-j1"}, progs...)
		cmd := exec.Command(c.prove, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = w, os.Stderr
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				return fmt.Errorf("run %s: %w", c.prove, err)
			}
			// prove exits non-zero when a program fails; the tally decides.
		}
		return nil
	}
	for _, p := range progs {
		cmd := exec.Command(self, "exec", p)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		start := time.Now()
		err := cmd.Run()
		status := "ok"
		if err != nil {
			status = "not ok"
		}
		fmt.Fprintf(w, "%-45s %s %.1fs\n", filepath.Base(p), status, time.Since(start).Seconds())
	}
	return nil
}

// listPrograms returns the executables in dir whose name matches only.
func listPrograms(dir, only string) ([]string, error) {
	re, err := regexp.Compile(only)
	if err != nil {
		return nil, fmt.Errorf("parse -run: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list validation programs: %w (run make conformance-build)", err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && re.MatchString(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("no validation programs in %s match %q", dir, only)
	}
	return out, nil
}

func readResult(path string) (*result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode result %s: %w", path, err)
	}
	return &r, nil
}

type row struct {
	name string
	v    verdict
	res  *result
	note string
}

func firstFailure(r *result) string {
	f := r.TAP.Failures
	switch {
	case len(f) == 0:
		return ""
	case len(f) == 1:
		return f[0]
	default:
		return fmt.Sprintf("%s (+%d more)", f[0], len(f)-1)
	}
}

func renderTable(rows []row) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROGRAM\tRESULT\tOK\tNOT OK\tSKIP\tSECS\tNOTE")
	for _, r := range rows {
		note := r.note
		if len(note) > 110 {
			note = note[:107] + "..."
		}
		if len(r.res.Cleanup) > 0 {
			note += " [cleaned: " + cleanupNote(r.res.Cleanup) + "]"
		}
		if len(r.res.Problems) > 0 {
			note += fmt.Sprintf(" [%d cleanup problem(s), see %s.tap]", len(r.res.Problems), r.name)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.1f\t%s\n", r.name, r.v,
			r.res.TAP.Passed, r.res.TAP.Failed, r.res.TAP.Skipped, r.res.Seconds, note)
	}
	tw.Flush()
	return b.String()
}

// writeBaseline sets the runtime's line in the baseline file, keeping the rest.
func writeBaseline(path, rt string, passed int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read baseline: %w", err)
	}
	var out []string
	found := false
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == rt {
			l, found = fmt.Sprintf("%s %d", rt, passed), true
		}
		out = append(out, l)
	}
	if !found {
		out = append(out, fmt.Sprintf("%s %d", rt, passed))
	}
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("write baseline: %w", err)
	}
	return nil
}

// cleanupNote abbreviates the cleanup list for the table: "3 cgroups, 1
// container, 2 orphaned process(es)".
func cleanupNote(items []string) string {
	cgroups, containers := 0, 0
	var rest []string
	for _, c := range items {
		switch {
		case strings.HasPrefix(c, "cgroup "):
			cgroups++
		case strings.HasPrefix(c, "container "):
			containers++
		default:
			rest = append(rest, c)
		}
	}
	var parts []string
	if containers > 0 {
		parts = append(parts, fmt.Sprintf("%d container(s)", containers))
	}
	if cgroups > 0 {
		parts = append(parts, fmt.Sprintf("%d cgroup(s)", cgroups))
	}
	return strings.Join(append(parts, rest...), ", ")
}
