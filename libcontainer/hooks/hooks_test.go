package hooks

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var testState = &specs.State{
	Version:     specs.Version,
	ID:          "husk-hooks-test",
	Status:      specs.StateCreating,
	Pid:         4242,
	Bundle:      "/run/bundle",
	Annotations: map[string]string{"a": "b"},
}

// script writes an executable shell script into dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func intp(i int) *int { return &i }

func TestRunPassesArgsEnvState(t *testing.T) {
	dir := t.TempDir()
	// $$ is the shell itself: /proc/$$/environ is the environment given to
	// execve, before the shell adds anything.
	p := script(t, dir, "hook", `
d=$(dirname "$0")
printf '%s\n' "$0" "$@" > "$d/args"
tr '\0' '\n' < /proc/$$/environ > "$d/env"
cat > "$d/state"
`)
	err := Run(CreateRuntime, []specs.Hook{{
		Path:    p,
		Args:    []string{p, "one", "two words"},
		Env:     []string{"A=1", "B=x y"},
		Timeout: intp(10),
	}}, testState)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := readLines(t, filepath.Join(dir, "args")), []string{p, "one", "two words"}; !reflect.DeepEqual(got, want) {
		t.Errorf("args: got %q, want %q", got, want)
	}
	if got, want := readLines(t, filepath.Join(dir, "env")), []string{"A=1", "B=x y"}; !reflect.DeepEqual(got, want) {
		t.Errorf("env: got %q, want %q", got, want)
	}
	data, err := os.ReadFile(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	var got specs.State
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("state on stdin %q: %v", data, err)
	}
	if !reflect.DeepEqual(&got, testState) {
		t.Errorf("state: got %+v, want %+v", got, *testState)
	}
}

func TestRunArgv0(t *testing.T) {
	// "args ... with the same semantics as execv's argv": args[0] is argv[0],
	// which need not be the path.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("requires sh: %v", err)
	}
	out := filepath.Join(t.TempDir(), "argv0")
	err = Run(Poststart, []specs.Hook{{
		Path: sh,
		Args: []string{"custom-argv0", "-c", `printf '%s\n' "$0" > ` + out},
	}}, testState)
	if err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, out); !reflect.DeepEqual(got, []string{"custom-argv0"}) {
		t.Errorf("argv[0]: got %q, want custom-argv0", got)
	}
}

func TestRunNoArgsNoEnv(t *testing.T) {
	dir := t.TempDir()
	p := script(t, dir, "hook", `
d=$(dirname "$0")
echo "$0 $#" > "$d/args"
tr '\0' '\n' < /proc/$$/environ > "$d/env"
`)
	t.Setenv("HUSK_HOOKS_LEAK", "1")
	if err := Run(Poststop, []specs.Hook{{Path: p}}, testState); err != nil {
		t.Fatal(err)
	}
	if got, want := readLines(t, filepath.Join(dir, "args")), []string{p + " 0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("args: got %q, want %q", got, want)
	}
	if got := readLines(t, filepath.Join(dir, "env")); len(got) != 0 {
		t.Errorf("env: got %q, want nothing (not husk's environment)", got)
	}
}

func TestRunOrderAndStopOnFailure(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	first := script(t, dir, "first", "echo first >> "+log+"\n")
	fail := script(t, dir, "fail", "echo second >> "+log+"\necho 'boom: no network' >&2\nexit 3\n")
	third := script(t, dir, "third", "echo third >> "+log+"\n")
	hooks := []specs.Hook{{Path: first}, {Path: fail}, {Path: third}}

	err := Run(CreateRuntime, hooks, testState)
	want := `hook "createRuntime"[1] ` + fail + `: exit status 3; stderr: "boom: no network"`
	if err == nil || err.Error() != want {
		t.Fatalf("got error %v, want %q", err, want)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Errorf("error does not wrap the exit status 3: %#v", err)
	}
	if got, want := readLines(t, log), []string{"first", "second"}; !reflect.DeepEqual(got, want) {
		t.Errorf("hooks run: got %q, want %q", got, want)
	}
}

func TestRunPoststopContinues(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	fail1 := script(t, dir, "fail1", "echo one >> "+log+"\nexit 1\n")
	ok := script(t, dir, "ok", "echo two >> "+log+"\n")
	fail2 := script(t, dir, "fail2", "echo three >> "+log+"\necho out; exit 2\n")
	err := Run(Poststop, []specs.Hook{{Path: fail1}, {Path: ok}, {Path: fail2}}, testState)
	if got, want := readLines(t, log), []string{"one", "two", "three"}; !reflect.DeepEqual(got, want) {
		t.Errorf("hooks run: got %q, want %q", got, want)
	}
	want := `hook "poststop"[0] ` + fail1 + ": exit status 1\n" +
		`hook "poststop"[2] ` + fail2 + `: exit status 2; stdout: "out"`
	if err == nil || err.Error() != want {
		t.Errorf("got error %v, want %q", err, want)
	}
}

func TestRunTimeout(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	// The shell and a child of it, which holds stderr open: both must die.
	p := script(t, dir, "slow", "sleep 60 &\necho $$ $! > "+pids+"\nwait\n")
	start := time.Now()
	err := Run(CreateRuntime, []specs.Hook{{Path: p, Timeout: intp(1)}}, testState)
	elapsed := time.Since(start)
	want := `hook "createRuntime"[0] ` + p + ": timed out after 1s"
	if err == nil || err.Error() != want {
		t.Fatalf("got error %v, want %q", err, want)
	}
	if elapsed > 3*time.Second {
		t.Errorf("Run took %v with a 1s timeout", elapsed)
	}
	fields := strings.Fields(strings.Join(readLines(t, pids), " "))
	if len(fields) != 2 {
		t.Fatalf("pids file: %q", fields)
	}
	for _, f := range fields {
		pid, _ := strconv.Atoi(f)
		waitDead(t, pid)
	}
}

// waitDead fails unless process pid is gone or a zombie within 2s.
func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && strings.HasPrefix(string(stat[i:]), ") Z") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("process %d still runs after the hook timed out", pid)
}

func TestRunDaemonizingHook(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "daemon")
	// A "daemon" in its own session keeps stdout and stderr open.
	p := script(t, dir, "daemonize", "setsid sleep 30 &\necho $! > "+pidFile+"\n")
	t.Cleanup(func() {
		if lines := readLines(t, pidFile); len(lines) == 1 {
			if pid, err := strconv.Atoi(lines[0]); err == nil {
				_ = unix.Kill(pid, unix.SIGKILL) // the daemon this test started
			}
		}
	})
	start := time.Now()
	if err := Run(CreateRuntime, []specs.Hook{{Path: p, Timeout: intp(10)}}, testState); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > waitDelay+2*time.Second {
		t.Errorf("Run took %v: blocked on the daemon's output", elapsed)
	}
}

func TestRunStderrTruncated(t *testing.T) {
	dir := t.TempDir()
	p := script(t, dir, "noisy", "i=0; while [ $i -lt 500 ]; do echo \"line $i of noise\" >&2; i=$((i+1)); done; echo last >&2; exit 1\n")
	err := Run(CreateContainer, []specs.Hook{{Path: p}}, testState)
	if err == nil {
		t.Fatal("got success from a failing hook")
	}
	msg := err.Error()
	if !strings.Contains(msg, "truncated") || !strings.HasSuffix(msg, `last"`) {
		t.Errorf("error does not end with the truncated stderr tail: %s", msg)
	}
	if len(msg) > outputLimit*2+200 {
		t.Errorf("error is %d bytes long", len(msg))
	}
}

func TestRunInvalid(t *testing.T) {
	tests := []struct {
		name string
		hook specs.Hook
		want string
	}{
		{"relative path", specs.Hook{Path: "bin/hook"}, `hook "prestart"[0] bin/hook: path must be absolute`},
		{"zero timeout", specs.Hook{Path: "/bin/true", Timeout: intp(0)}, `hook "prestart"[0] /bin/true: timeout 0 must be greater than zero`},
		{"missing", specs.Hook{Path: "/nonexistent/hook"}, `hook "prestart"[0] /nonexistent/hook: fork/exec /nonexistent/hook: no such file or directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(Prestart, []specs.Hook{tt.hook}, testState)
			if err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	if err := Run(Prestart, []specs.Hook{{Path: "/bin/true"}}, nil); err == nil {
		t.Error("nil state: got success")
	}
	if err := Run(Prestart, nil, nil); err != nil {
		t.Errorf("no hooks: got %v", err)
	}
}

func BenchmarkRunTrue(b *testing.B) {
	hooks := []specs.Hook{{Path: "/bin/true", Timeout: intp(5)}}
	for b.Loop() {
		if err := Run(CreateRuntime, hooks, testState); err != nil {
			b.Fatal(err)
		}
	}
}

func readLines(t *testing.T, p string) []string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimRight(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
