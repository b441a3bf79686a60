package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/conformance/internal/tap"
)

// Environment through which "run" configures "exec" (prove sits between them).
const (
	envRuntime     = "CONFORMANCE_RUNTIME"     // absolute path of the runtime under test
	envWork        = "CONFORMANCE_WORK"        // scratch directory, one subdirectory per program
	envResults     = "CONFORMANCE_RESULTS"     // where <program>.json/.tap/.stderr go
	envRuntimetest = "CONFORMANCE_RUNTIMETEST" // the static runtimetest binary
	envRootfs      = "CONFORMANCE_ROOTFS"      // rootfs-<arch>.tar.gz
	envTimeout     = "CONFORMANCE_TIMEOUT"     // per-program timeout, a Go duration
	envIsolate     = "CONFORMANCE_ISOLATE"     // "0" disables the private mount namespace
)

// execConfig is what one program run needs.
type execConfig struct {
	runtime, work, results, runtimetest, rootfs string
	timeout                                     time.Duration
	isolate                                     bool
}

func execConfigFromEnv() (execConfig, error) {
	c := execConfig{
		runtime: os.Getenv(envRuntime), work: os.Getenv(envWork), results: os.Getenv(envResults),
		runtimetest: os.Getenv(envRuntimetest), rootfs: os.Getenv(envRootfs),
		isolate: os.Getenv(envIsolate) != "0", timeout: 2 * time.Minute,
	}
	for k, v := range map[string]string{envRuntime: c.runtime, envWork: c.work, envResults: c.results,
		envRuntimetest: c.runtimetest, envRootfs: c.rootfs} {
		if v == "" || !filepath.IsAbs(v) {
			return c, fmt.Errorf("environment %s: want an absolute path, got %q (use \"conformance run\")", k, v)
		}
		if strings.ContainsAny(v, "'\n") {
			return c, fmt.Errorf("environment %s: path %q holds a quote or newline", k, v)
		}
	}
	if t := os.Getenv(envTimeout); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			return c, fmt.Errorf("environment %s: %w", envTimeout, err)
		}
		c.timeout = d
	}
	return c, nil
}

// silentOnSuccess names the programs that print nothing and exit 0 when the
// runtime behaves (they call util.Fatal on failure and never start a TAP
// stream). For every other program empty output is a failure: the programs
// that relay runtimetest's TAP print nothing when the container died silently.
var silentOnSuccess = map[string]bool{
	"process_capabilities_fail": true,
	"process_rlimits_fail":      true,
}

// result is what "exec" records for "run" in <results>/<program>.json.
type result struct {
	Program  string        `json:"program"`
	ExitCode int           `json:"exit_code"`
	Signal   string        `json:"signal,omitempty"`
	TimedOut bool          `json:"timed_out,omitempty"`
	Seconds  float64       `json:"seconds"`
	TAP      tap.Summary   `json:"tap"`
	Cleanup  []string      `json:"cleanup,omitempty"` // what the harness had to clean up
	Problems []string      `json:"problems,omitempty"`
	Calls    int           `json:"runtime_calls"`
	Timeout  time.Duration `json:"-"`
}

func execMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: conformance exec PROGRAM")
		return 2
	}
	cfg, err := execConfigFromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance exec: %v\n", err)
		return 2
	}
	res, err := execOne(cfg, args[0], os.Stdout)
	if err != nil {
		// Still a TAP stream, so prove reports it against the program.
		fmt.Printf("TAP version 13\nnot ok 1 - harness: %s\n1..1\n", strings.ReplaceAll(err.Error(), "\n", " "))
		fmt.Fprintf(os.Stderr, "conformance exec: %v\n", err)
		return 1
	}
	if !res.TAP.OK() {
		return 1
	}
	return 0
}

// execOne runs one validation program and cleans up after it; the
// normalised TAP goes to w.
func execOne(cfg execConfig, prog string, w io.Writer) (*result, error) {
	prog, err := filepath.Abs(prog)
	if err != nil {
		return nil, fmt.Errorf("resolve program: %w", err)
	}
	name := filepath.Base(prog)
	dir := filepath.Join(cfg.work, name)
	cwd, tmp, state := filepath.Join(dir, "cwd"), filepath.Join(dir, "tmp"), filepath.Join(dir, "state")
	callLog := filepath.Join(cfg.results, name+".calls")
	if _, err := removeDir(dir); err != nil {
		return nil, err
	}
	for _, d := range []string{cwd, tmp, state, cfg.results} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("make work dir: %w", err)
		}
	}
	// The programs untar rootfs-$GOARCH.tar.gz and copy runtimetest from their
	// working directory.
	// runtimetest must be a real file: the programs copy it into the bundle
	// with a copy that keeps symlinks as symlinks.
	if err := linkOrCopy(cfg.runtimetest, filepath.Join(cwd, "runtimetest")); err != nil {
		return nil, err
	}
	if err := os.Symlink(cfg.rootfs, filepath.Join(cwd, fmt.Sprintf("rootfs-%s.tar.gz", runtime.GOARCH))); err != nil {
		return nil, fmt.Errorf("link rootfs: %w", err)
	}
	// The programs call $RUNTIME without --root; the wrapper gives every
	// program a private state root and logs each call.
	_ = os.Remove(callLog)
	wrapper := filepath.Join(dir, "runtime")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> '%s'\nexec '%s' --root '%s' \"$@\"\n",
		callLog, cfg.runtime, state)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		return nil, fmt.Errorf("write runtime wrapper: %w", err)
	}

	hs, err := hostHierarchies()
	if err != nil {
		return nil, err
	}
	before := existing(cgroupCandidates(hs, nil))
	for p := range before {
		fmt.Fprintf(os.Stderr, "conformance exec: %s existed before %s ran; leaving it alone\n", p, name)
	}

	// Orphans of the program (container inits after "create", stray sleeps)
	// are re-parented to us so that we can kill and reap them.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("become subreaper: %w", err)
	}

	rawPath := filepath.Join(cfg.results, name+".raw")
	res := &result{Program: name, Timeout: cfg.timeout}
	outcome, err := runProgram(cfg, prog, cwd, tmp, wrapper, rawPath, filepath.Join(cfg.results, name+".stderr"), res)
	if err != nil {
		return nil, err
	}

	ids := createdIDs(callLog, res)
	res.Cleanup, res.Problems = cleanupAfter(cfg, state, ids, hs, before)
	mounts := 0
	for _, d := range []string{cwd, tmp, state} {
		n, err := removeDir(d)
		if err != nil {
			res.Problems = append(res.Problems, err.Error())
		}
		mounts += n
	}
	if mounts > 0 {
		res.Cleanup = append(res.Cleanup, fmt.Sprintf("%d leaked mount(s)", mounts))
	}
	if err := os.Remove(wrapper); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	_ = os.Remove(dir)

	raw, err := os.ReadFile(rawPath)
	if err != nil {
		return nil, fmt.Errorf("read program output: %w", err)
	}
	var out bytes.Buffer
	outcome.EmptyIsPass = silentOnSuccess[name]
	res.TAP, err = tap.Normalize(raw, outcome, &out)
	if err != nil {
		return nil, err
	}
	for _, p := range res.Problems {
		fmt.Fprintf(&out, "# harness cleanup problem: %s\n", p)
	}
	for _, c := range res.Cleanup {
		fmt.Fprintf(&out, "# harness cleaned up: %s\n", c)
	}
	if err := os.WriteFile(filepath.Join(cfg.results, name+".tap"), out.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("write tap: %w", err)
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.results, name+".json"), js, 0o644); err != nil {
		return nil, fmt.Errorf("write result: %w", err)
	}
	if _, err := w.Write(out.Bytes()); err != nil {
		return nil, fmt.Errorf("write tap: %w", err)
	}
	return res, nil
}

// runProgram runs prog in its own process group (and mount namespace when
// cfg.isolate) with the timeout, stdout to rawPath and stderr to errPath.
func runProgram(cfg execConfig, prog, cwd, tmp, wrapper, rawPath, errPath string, res *result) (tap.Outcome, error) {
	stdout, err := os.Create(rawPath)
	if err != nil {
		return tap.Outcome{}, fmt.Errorf("create output file: %w", err)
	}
	defer stdout.Close()
	stderr, err := os.Create(errPath)
	if err != nil {
		return tap.Outcome{}, fmt.Errorf("create stderr file: %w", err)
	}
	defer stderr.Close()

	cmd := exec.Command(prog)
	cmd.Dir = cwd
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(filteredEnv("RUNTIME", "TMPDIR"), "RUNTIME="+wrapper, "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if cfg.isolate {
		// Go makes / recursively private in the new namespace, so mounts
		// leaked by the runtime or the program never reach the host.
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return tap.Outcome{}, fmt.Errorf("start %s: %w", prog, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				res.TimedOut = true
				_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
			}
		case <-done:
		}
	}()
	waitErr := cmd.Wait()
	close(done)
	res.Seconds = time.Since(start).Seconds()
	o := tap.Outcome{TimedOut: res.TimedOut, Timeout: cfg.timeout}
	var ee *exec.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &ee):
		o.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			o.Signal = ws.Signal().String()
		}
	default:
		return o, fmt.Errorf("wait %s: %w", prog, waitErr)
	}
	res.ExitCode, res.Signal = o.ExitCode, o.Signal
	return o, nil
}

func filteredEnv(drop ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range drop {
			if k == d {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// createdIDs reads the wrapper's call log and returns the ids of the
// containers the program asked the runtime to create.
func createdIDs(callLog string, res *result) []string {
	f, err := os.Open(callLog)
	if err != nil {
		return nil
	}
	defer f.Close()
	seen := map[string]bool{}
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		res.Calls++
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "create" && !seen[f[len(f)-1]] {
			seen[f[len(f)-1]] = true
			ids = append(ids, f[len(f)-1])
		}
	}
	return ids
}

// cleanupAfter removes what the program left: containers in its state root,
// orphaned processes, and the cgroups it created (only the suite's cgroup
// names and the ids it created, and only those absent before it ran).
func cleanupAfter(cfg execConfig, state string, ids []string, hs []hierarchy, before map[string]bool) (cleaned, problems []string) {
	all := map[string]bool{}
	for _, id := range ids {
		all[id] = true
	}
	if ents, err := os.ReadDir(state); err == nil {
		for _, e := range ents {
			// Runtimes keep private entries there too (husk: .seccomp-cache).
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				all[e.Name()] = true
			}
		}
	}
	var live []string
	for id := range all {
		if _, err := os.Stat(filepath.Join(state, id)); err == nil {
			live = append(live, id)
		}
	}
	sort.Strings(live)
	for _, id := range live {
		runRuntime(cfg.runtime, state, "kill", id, "KILL")
		if err := runRuntime(cfg.runtime, state, "delete", "--force", id); err != nil {
			problems = append(problems, fmt.Sprintf("delete container %s: %v", id, err))
		}
		cleaned = append(cleaned, "container "+id)
	}
	if n := killOrphans(5 * time.Second); n > 0 {
		cleaned = append(cleaned, fmt.Sprintf("%d orphaned process(es)", n))
	}
	var idList []string
	for id := range all {
		idList = append(idList, id)
	}
	for _, cg := range cgroupCandidates(hs, idList) {
		if before[cg] {
			continue
		}
		if _, err := os.Lstat(cg); err != nil {
			continue
		}
		removed, err := removeCgroupTree(cg, reapAll)
		if err != nil {
			problems = append(problems, err.Error())
		}
		if len(removed) > 0 {
			cleaned = append(cleaned, "cgroup "+cg)
		}
	}
	if n := killOrphans(2 * time.Second); n > 0 {
		cleaned = append(cleaned, fmt.Sprintf("%d more orphaned process(es)", n))
	}
	return cleaned, problems
}

// runRuntime runs the real runtime against the program's state root.
func runRuntime(runtime, state string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, runtime, append([]string{"--root", state}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(runtime), strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// linkOrCopy hard-links src to dst, copying when they are on different
// file systems.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}
