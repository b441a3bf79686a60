package integration

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/testutil"
)

// huskCmd prepares the runtime with --root b.Root and args, for tests that hand it their own
// fds or environment. stdio defaults to /dev/null.
func huskCmd(b *testutil.Bundle, args ...string) *exec.Cmd {
	cmd := exec.Command(testutil.Runtime(), append([]string{"--root", b.Root}, args...)...)
	cmd.Dir = b.Dir
	return cmd
}

// runCmd runs cmd with a timeout and fails t on a non-zero exit. Its stderr, unless set, goes
// to a file: a created container keeps the runtime's stdio open, so a pipe would not end.
func runCmd(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if cmd.Stderr == nil {
		f, err := os.CreateTemp(t.TempDir(), "stderr")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stderr = f
	}
	stderr := func() string {
		if f, ok := cmd.Stderr.(*os.File); ok {
			data, _ := os.ReadFile(f.Name())
			return string(data)
		}
		return ""
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%v: %v: %s", cmd.Args, err, stderr())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v: timed out", cmd.Args)
	}
}

// namedFile makes a host file holding its own name, opened for reading.
func namedFile(t *testing.T, name string) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// hostFds lists /proc/<pid>/fd as fd -> link target, read from the host.
func hostFds(t *testing.T, pid int) map[int]string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, e := range ents {
		n, _ := strconv.Atoi(e.Name())
		out[n], _ = os.Readlink(filepath.Join(dir, e.Name()))
	}
	return out
}

func fdNumbers(m map[int]string) []int {
	var ns []int
	for n := range m {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	return ns
}

// createWithFiles creates b with extra files as fds 3.. of the runtime and more create
// flags, starts it and returns the pid of its exec'd process.
func createWithFiles(t *testing.T, b *testutil.Bundle, files []*os.File, flags ...string) int {
	t.Helper()
	pidFile := filepath.Join(b.Dir, "init.pid")
	args := append(append([]string{"create", "--bundle", b.Dir, "--pid-file", pidFile}, flags...), b.ID)
	cmd := huskCmd(b, args...)
	cmd.ExtraFiles = files
	runCmd(t, cmd)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	b.MustHusk("start", b.ID)
	waitCmdline(t, pid, b.Spec.Process.Args)
	return pid
}

// waitCmdline waits until pid has exec'd args.
func waitCmdline(t *testing.T, pid int, args []string) {
	t.Helper()
	want := strings.Join(args, "\x00") + "\x00"
	for i := 0; i < 500; i++ {
		if got, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil {
			t.Fatalf("container process %d: %v", pid, err)
		} else if string(got) == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("container process %d did not exec %q", pid, args)
}

func TestPreserveFds(t *testing.T) {
	testutil.RequireRoot(t)
	a, bf, stray := namedFile(t, "preserved-a"), namedFile(t, "preserved-b"), namedFile(t, "stray")
	// busybox sleep opens nothing, so its fd table is exactly what it was given.
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/bin/sleep", "60"} })
	pid := createWithFiles(t, b, []*os.File{a, bf, stray}, "--preserve-fds", "2")
	fds := hostFds(t, pid)
	if got := fmt.Sprint(fdNumbers(fds)); got != "[0 1 2 3 4]" {
		t.Errorf("fds of the container process: got %s (%v), want [0 1 2 3 4]", got, fds)
	}
	if !strings.HasSuffix(fds[3], "/preserved-a") || !strings.HasSuffix(fds[4], "/preserved-b") {
		t.Errorf("preserved fds: 3 -> %q, 4 -> %q; want preserved-a, preserved-b", fds[3], fds[4])
	}
}

// TestInheritedFdsDoNotLeak: fds the runtime inherits but was not told to preserve (an
// engine's stray socket) and the runtime's own fds never reach the container.
func TestInheritedFdsDoNotLeak(t *testing.T) {
	testutil.RequireRoot(t)
	stray3, stray4 := namedFile(t, "stray3"), namedFile(t, "stray4")
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/bin/sleep", "60"} })
	pid := createWithFiles(t, b, []*os.File{stray3, stray4})
	if fds := hostFds(t, pid); fmt.Sprint(fdNumbers(fds)) != "[0 1 2]" {
		t.Errorf("fds of the container process: got %v, want only 0 1 2", fds)
	}
}

// TestStdioPassthrough: without a terminal the runtime's stdio is the container's (engines
// hand in pipes and read them).
func TestStdioPassthrough(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/bin/sh", "-c", "echo out; echo err >&2"} })
	// Both lines through the one pipe; their order is the scheduler's business once two
	// writers share it.
	if got := runToPipe(t, b); got != "out\nerr\n" && got != "err\nout\n" {
		t.Errorf("pipe got %q, want the lines \"out\" and \"err\"", got)
	}
}

// runToPipe runs b with its stdout and stderr on one pipe, as engines hand them in, and
// returns what came through it.
func runToPipe(t *testing.T, b *testutil.Bundle) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := huskCmd(b, "run", "--bundle", b.Dir, b.ID)
	cmd.Stdout, cmd.Stderr = w, w
	runCmd(t, cmd)
	w.Close()
	data, _ := io.ReadAll(r)
	return string(data)
}

// TestListenFds: systemd socket activation. The runtime, started with LISTEN_FDS=N and
// LISTEN_PID=its own pid, passes fds 3..3+N-1 and tells the container LISTEN_PID=1.
func TestListenFds(t *testing.T) {
	testutil.RequireRoot(t)
	a, bf := namedFile(t, "listen-a"), namedFile(t, "listen-b")
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/bin/sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3; echo; cat <&4"}
	})
	// exec keeps the shell's pid, so LISTEN_PID names the runtime.
	got := runViaShell(t, b, "LISTEN_PID=$$ LISTEN_FDS=2", a, bf)
	if want := "2 1\nlisten-a\nlisten-b"; got != want {
		t.Errorf("container saw %q, want %q", got, want)
	}
}

// TestStdioReopenByUser: a non-root container process can reopen its stdio by path
// (/dev/stdout, as nginx's log config does): the runtime hands it the stdio fds' ownership.
func TestStdioReopenByUser(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 1000, GID: 1000}
		s.Process.Args = []string{"/bin/sh", "-c", "echo reopened > /dev/stdout"}
	})
	if got := runToPipe(t, b); got != "reopened\n" {
		t.Errorf("pipe got %q, want \"reopened\\n\"", got)
	}
}

// runViaShell runs the container through `sh -c '<prelude> exec runtime run ...'` (to set
// the runtime's umask or an environment naming its pid), with files as fds 3.., and returns
// the container's stdout.
func runViaShell(t *testing.T, b *testutil.Bundle, prelude string, files ...*os.File) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	outF, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer outF.Close()
	cmd := exec.Command("/bin/sh", "-c", prelude+` exec "$@"`, "sh",
		testutil.Runtime(), "--root", b.Root, "run", "--bundle", b.Dir, b.ID)
	cmd.ExtraFiles = files
	cmd.Stdout = outF
	runCmd(t, cmd)
	data, _ := os.ReadFile(out)
	return string(data)
}

// TestExecPreserveFds: exec --preserve-fds passes exactly the named fds to the new process,
// and no others (exec goes through its own init path).
func TestExecPreserveFds(t *testing.T) {
	testutil.RequireRoot(t)
	kept, stray := namedFile(t, "exec-kept"), namedFile(t, "exec-stray")
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/bin/sleep", "60"} })
	startSleeper(t, b)
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	cmd := huskCmd(b, "exec", "--detach", "--pid-file", pidFile, "--preserve-fds", "1", b.ID, "/bin/sleep", "50")
	cmd.ExtraFiles = []*os.File{kept, stray}
	runCmd(t, cmd)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	// The detached process is ours to reap (subreaper), as a shim's: until it is, the
	// container's pid namespace cannot finish dying and delete --force would wait.
	t.Cleanup(func() {
		_ = unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
	})
	waitCmdline(t, pid, []string{"/bin/sleep", "50"})
	fds := hostFds(t, pid)
	if got := fmt.Sprint(fdNumbers(fds)); got != "[0 1 2 3]" || !strings.HasSuffix(fds[3], "/exec-kept") {
		t.Errorf("exec'd process fds: got %v, want 0 1 2 and 3 -> exec-kept", fds)
	}
}
