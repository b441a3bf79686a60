package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/testutil"
)

// callerSlack is the timer slack (ns) the tests start the runtime with: neither the kernel's
// default (50000) nor husk's own (huskSlack), so that inheriting it proves where it came from.
const callerSlack = 70001

// huskSlack is the slack husk gives its own threads (libcontainer/timerslack.Wide).
const huskSlack = 1000000

// withSlack runs f on a thread whose timer slack is ns, so that the processes it starts
// inherit it.
func withSlack[T any](t *testing.T, ns uint64, f func() T) T {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(ns), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0) }()
	return f()
}

// requireSlack checks /proc/<pid>/timerslack_ns.
func requireSlack(t *testing.T, what string, pid int, want int) {
	t.Helper()
	if got := strings.TrimSpace(hostFile(t, pid, "timerslack_ns")); got != strconv.Itoa(want) {
		t.Errorf("timer slack of %s (pid %d): got %s ns, want %d", what, pid, got, want)
	}
}

// TestTimerSlack: the processes the runtime starts (the container's init and process, an
// exec'd process, a hook) run with the timer slack of the thread that started the runtime.
// husk widens the slack of its own threads (libcontainer/timerslack), so that the Go runtime's
// monitor thread wakes less often; that must not reach what it starts.
func TestTimerSlack(t *testing.T) {
	testutil.RequireRoot(t)
	hookOut := filepath.Join(t.TempDir(), "hook-slack")
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} })
	hook := filepath.Join(b.Dir, "hook.sh")
	writeHook(t, hook, "cat /proc/$$/timerslack_ns > "+hookOut+"\n")
	setHooks(b.Spec, "createRuntime", specs.Hook{Path: hook, Env: hookEnv})
	b.WriteSpec()

	pid := withSlack(t, callerSlack, func() int { return b.Create() })
	requireSlack(t, "the created init", pid, callerSlack)
	if got := readTrim(t, hookOut); got != strconv.Itoa(callerSlack) {
		t.Errorf("timer slack of the createRuntime hook: got %s ns, want %d", got, callerSlack)
	}
	withSlack(t, callerSlack, func() string { return b.MustHusk("start", b.ID) })
	waitCmdline(t, pid, b.Spec.Process.Args)
	requireSlack(t, "the container's process", pid, callerSlack)
	// busybox, single-threaded: /proc/self/timerslack_ns shows the thread group leader's, and
	// another thread (of a Go probe) may read it only with CAP_SYS_NICE.
	got := withSlack(t, callerSlack, func() string {
		return b.MustHusk("exec", b.ID, "/bin/busybox", "cat", "/proc/self/timerslack_ns")
	})
	if strings.TrimSpace(got) != strconv.Itoa(callerSlack) {
		t.Errorf("timer slack of an exec'd process: got %q ns, want %d", got, callerSlack)
	}
}

// TestTimerSlackOfHusk looks at a `husk run` from outside while it waits for its container:
// every thread of husk has the wide slack, the container the caller's.
func TestTimerSlackOfHusk(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} })
	cmd := exec.Command(testutil.Runtime(), "--root", b.Root, "run", "--bundle", b.Dir, b.ID)
	if err := withSlack(t, callerSlack, cmd.Start); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	b.WaitStatus("running", 10*time.Second)
	ctrPid := int(b.State()["pid"].(float64))
	waitCmdline(t, ctrPid, b.Spec.Process.Args)
	requireSlack(t, "the container's process", ctrPid, callerSlack)

	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		requireSlack(t, "a thread of husk run", tid, huskSlack)
	}
	b.MustHusk("kill", b.ID, "KILL")
	select {
	case <-done:
		done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("husk run did not exit after its container was killed")
	}
}
