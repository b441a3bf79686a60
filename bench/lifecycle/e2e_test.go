package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEndToEnd runs the built benchmark with crun and a runtime that fails
// every command: the fake must be reported as failed in every row it ran,
// crun must get numbers, and nothing may be left behind.
func TestEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("requires root (namespaces, cgroups); run with: go test -exec sudo")
	}
	const crun = "/usr/bin/crun"
	if _, err := os.Stat(crun); err != nil {
		t.Skipf("requires %s: %v", crun, err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "lifecycle")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	fake := filepath.Join(dir, "fake")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"fake runtime: $*\" >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"ROUNDS=2", "SKIP=seq many",
		"RUNTIMES=fake="+fake+" crun="+crun,
		"BENCH_BUNDLE="+filepath.Join(dir, "bundle"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("benchmark: %v\nstderr:\n%s", err, stderr.String())
	}
	s := string(out)
	i := strings.LastIndex(s, "BENCH_JSON ")
	if i < 0 {
		t.Fatalf("no BENCH_JSON line:\n%s", s)
	}
	var js struct {
		Runtimes map[string]map[string]any
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(s[i+len("BENCH_JSON "):])), &js); err != nil {
		t.Fatalf("BENCH_JSON: %v", err)
	}
	for _, key := range []string{"run_ms", "run_seccomp_ms", "create_ms", "wait_ms", "exec_ms", "par20_s", "created_init_rss_kib"} {
		if v, ok := js.Runtimes["crun"][key].(float64); !ok || v <= 0 {
			t.Errorf("crun %s: got %v, want a positive number", key, js.Runtimes["crun"][key])
		}
		if v, ok := js.Runtimes["fake"][key]; !ok || v != nil {
			t.Errorf("fake %s: got %v (present %v), want null", key, v, ok)
		}
	}
	if !strings.Contains(s, "fake runtime: --root") {
		t.Errorf("report lacks the fake runtime's error:\n%s", s)
	}
	if _, ok := js.Runtimes["crun"]["seq100_s"]; ok {
		t.Errorf("skipped row seq reported: %v", js.Runtimes["crun"]["seq100_s"])
	}
	leftovers, _ := filepath.Glob("/sys/fs/cgroup/*/huskbench-*")
	more, _ := filepath.Glob("/sys/fs/cgroup/*/*/*/huskbench-*")
	if len(leftovers)+len(more) > 0 {
		t.Errorf("cgroups left behind: %v %v", leftovers, more)
	}
}
