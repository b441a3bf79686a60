package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/testutil"
)

func TestRunHostname(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Hostname = "husk-test"
		s.Process.Args = []string{"/probe", "hostname"}
	})
	if got, want := b.MustRun(), "husk-test\n"; got != want {
		t.Errorf("hostname: got %q, want %q", got, want)
	}
	if st := b.Status(); st != "" {
		t.Errorf("after run the container should be deleted, status %q", st)
	}
}

func TestRunExitCode(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "exit", "42"} })
	if r := b.Run(); r.Code != 42 {
		t.Errorf("exit code: got %d, want 42 (stderr %q)", r.Code, r.Stderr)
	}
}

func TestRunKilledBySignal(t *testing.T) {
	testutil.RequireRoot(t)
	// Not pid 1 of a pid namespace, which no signal from inside can kill.
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/bin/sh", "-c", "kill -9 $$"}
		s.Linux.Namespaces = s.Linux.Namespaces[1:]
	})
	if r := b.Run(); r.Code != 128+9 {
		t.Errorf("exit code: got %d, want 137 (stderr %q)", r.Code, r.Stderr)
	}
}

func TestLifecycle(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} })
	pid := b.Create()
	st := b.State()
	if st["status"] != "created" || int(st["pid"].(float64)) != pid || st["id"] != b.ID || st["bundle"] != b.Dir {
		t.Fatalf("state after create: %v (pid file %d)", st, pid)
	}
	// The init waits inside the container's namespaces, before exec.
	if self, _ := os.Readlink("/proc/self/ns/pid"); self == mustReadlink(t, "/proc/"+strconv.Itoa(pid)+"/ns/pid") {
		t.Error("created init shares the host pid namespace")
	}
	b.MustHusk("start", b.ID)
	if got := b.Status(); got != "running" {
		t.Fatalf("status after start: %q", got)
	}
	if r := b.Husk("start", b.ID); r.Code == 0 {
		t.Error("second start of a running container succeeded")
	}
	if r := b.Husk("delete", b.ID); r.Code == 0 {
		t.Error("delete of a running container without --force succeeded")
	}
	b.MustHusk("kill", b.ID, "KILL")
	b.WaitStatus("stopped", 5*time.Second)
	b.MustHusk("delete", b.ID)
	if st := b.Status(); st != "" {
		t.Errorf("status after delete: %q", st)
	}
	if _, err := os.Stat(filepath.Join(b.Root, b.ID)); !os.IsNotExist(err) {
		t.Errorf("state dir left after delete: %v", err)
	}
}

func mustReadlink(t *testing.T, p string) string {
	t.Helper()
	l, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestDeleteCreatedWithoutForce(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} })
	pid := b.Create()
	b.MustHusk("delete", b.ID)
	if err := unix.Kill(pid, 0); err == nil {
		var ws unix.WaitStatus
		if p, _ := unix.Wait4(pid, &ws, unix.WNOHANG, nil); p != pid {
			t.Errorf("init %d still alive after delete of a created container", pid)
		}
	}
}

func TestDeleteForceMissingIsOK(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, nil)
	if r := b.Husk("delete", "--force", "no-such-container"); r.Code != 0 {
		t.Errorf("delete --force of a missing container: exit %d, %s", r.Code, r.Stderr)
	}
	if r := b.Husk("delete", "no-such-container"); r.Code == 0 {
		t.Error("delete of a missing container succeeded")
	}
}

func TestKillSignalForms(t *testing.T) {
	testutil.RequireRoot(t)
	for _, sig := range []string{"KILL", "SIGKILL", "9"} {
		t.Run(sig, func(t *testing.T) {
			b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} })
			b.Create()
			b.MustHusk("start", b.ID)
			b.MustHusk("kill", b.ID, sig)
			b.WaitStatus("stopped", 5*time.Second)
		})
	}
}

func TestExec(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Hostname = "exec-host"
		s.Process.Args = []string{"/probe", "sleep", "60"}
	})
	b.Create()
	b.MustHusk("start", b.ID)
	if got := b.MustHusk("exec", b.ID, "/probe", "hostname"); got != "exec-host\n" {
		t.Errorf("exec hostname: got %q", got)
	}
	if r := b.Husk("exec", b.ID, "/probe", "exit", "7"); r.Code != 7 {
		t.Errorf("exec exit code: got %d, want 7", r.Code)
	}
	if r := b.Husk("exec", b.ID, "/no/such/binary"); r.Code != 255 {
		t.Errorf("exec of a missing binary: got exit %d, want 255 (%s)", r.Code, r.Stderr)
	}
	if got := b.MustHusk("exec", "--user", "1000:1000", b.ID, "/probe", "id"); !strings.HasPrefix(got, "uid=1000 gid=1000") {
		t.Errorf("exec --user: got %q", got)
	}
	if got := b.MustHusk("exec", "--cwd", "/tmp", b.ID, "/probe", "cwd"); got != "/tmp\n" {
		t.Errorf("exec --cwd: got %q", got)
	}
	if got := b.MustHusk("exec", "-e", "FOO=bar", b.ID, "/probe", "env"); !strings.Contains(got, "FOO=bar\n") {
		t.Errorf("exec -e: got %q", got)
	}
}

func TestList(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} })
	b.Create()
	if got := b.MustHusk("list", "-q"); got != b.ID+"\n" {
		t.Errorf("list -q: got %q", got)
	}
	// The owner is the user owning the state directory (root here), as in runc.
	lines := strings.Split(strings.TrimSpace(b.MustHusk("list")), "\n")
	if len(lines) != 2 {
		t.Fatalf("list: got %q, want a header and one line", lines)
	}
	if f := strings.Fields(lines[1]); len(f) != 6 || f[0] != b.ID || f[2] != "created" || f[5] != "root" {
		t.Errorf("list: line %q, want ID, pid, created, bundle, time and owner root", lines[1])
	}
	if got := b.MustHusk("list", "--format", "json"); !strings.Contains(got, `"id":"`+b.ID+`"`) || !strings.Contains(got, `"owner":"root"`) {
		t.Errorf("list -f json: got %q", got)
	}
}

// TestRunForwardsSignals: a signal sent to a foreground `run` or `exec` reaches the
// container's process, as with runc: here SIGTERM, SIGUSR1, SIGHUP and a real-time signal,
// each trapped into an exit code. Signals whose default effect would end husk itself are
// the point: husk must survive them and pass them on.
func TestRunForwardsSignals(t *testing.T) {
	testutil.RequireRoot(t)
	script := `trap "exit 42" TERM; trap "exit 43" USR1; trap "exit 44" HUP; trap "exit 45" 40; ` +
		`touch /tmp/ready$1; while :; do sleep 0.05; done`
	cases := []struct {
		sig  unix.Signal
		want int
	}{{unix.SIGTERM, 42}, {unix.SIGUSR1, 43}, {unix.SIGHUP, 44}, {unix.Signal(40), 45}}
	send := func(t *testing.T, b *testutil.Bundle, cmd *exec.Cmd, ready string, sig unix.Signal, want int) {
		t.Helper()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(b.Dir, "rootfs", "tmp", ready)); err == nil {
				break
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("%v: the container's process never got ready", sig)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != want {
			t.Errorf("%v to `%s`: exit %d (%v), want %d from the process's trap", sig, cmd.Args[3+len(b.GlobalArgs)], code, err, want)
		}
	}
	husk := func(b *testutil.Bundle, args ...string) *exec.Cmd {
		return exec.Command(testutil.Runtime(), append(append([]string{"--root", b.Root}, b.GlobalArgs...), args...)...)
	}
	for _, c := range cases {
		b := testutil.NewBundle(t, func(s *specs.Spec) {
			s.Process.Args = []string{"/bin/sh", "-c", script, "sh", "-run"}
			s.Root.Readonly = false
		})
		send(t, b, husk(b, "run", "--bundle", b.Dir, b.ID), "ready-run", c.sig, c.want)
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "sleep", "60"}
		s.Root.Readonly = false
	})
	b.Create()
	b.MustHusk("start", b.ID)
	for i, c := range cases {
		tag := "-exec" + strconv.Itoa(i)
		send(t, b, husk(b, "exec", b.ID, "/bin/sh", "-c", script, "sh", tag), "ready"+tag, c.sig, c.want)
	}
}

// TestHelpAsContainerID: "h" and "help" are container IDs like any other: runc's commands have
// no help subcommand, and an engine may name a container so.
func TestHelpAsContainerID(t *testing.T) {
	testutil.RequireRoot(t)
	for _, id := range []string{"h", "help"} {
		b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} })
		b.ID = id
		b.Create()
		if st := b.State(); st["id"] != id || st["status"] != "created" {
			t.Errorf("state %s after create: %v", id, st)
		}
		b.MustHusk("start", id)
		b.WaitStatus("running", 10*time.Second)
		b.MustHusk("kill", id, "KILL")
		b.WaitStatus("stopped", 10*time.Second)
		b.MustHusk("delete", id)
		if st := b.Status(); st != "" {
			t.Errorf("container %s still there after delete: %s", id, st)
		}
	}
}
