package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/testutil"
)

// secLeakedDirs opens dir n times: handed to the runtime as exec.Cmd.ExtraFiles they are the
// host directory fds an engine leaked into it (CVE-2024-21626).
func secLeakedDirs(t *testing.T, dir string, n int) []*os.File {
	t.Helper()
	var files []*os.File
	for i := 0; i < n; i++ {
		f, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		files = append(files, f)
	}
	return files
}

// secCwdEscape fails t if the output of secCwdScript shows a working directory outside the
// container: the host directory's marker, an unreachable path, or an unmasked procfs.
func secCwdEscape(t *testing.T, what string, r testutil.Result) {
	t.Helper()
	if r.Code != 0 {
		return // refused: fine
	}
	pwd, _, _ := strings.Cut(r.Stdout, "\n")
	switch {
	case strings.Contains(r.Stdout, "host-marker"):
		t.Errorf("%s: the container listed the host directory:\n%s", what, r.Stdout)
	case !strings.HasPrefix(pwd, "/") || strings.Contains(pwd, "unreachable"):
		t.Errorf("%s: working directory %q is outside the container's root", what, pwd)
	case strings.Contains(r.Stdout, "\nsysrq-trigger\n") && pwd != "/proc":
		t.Errorf("%s: working directory %q is a procfs other than the container's /proc:\n%s", what, pwd, r.Stdout)
	}
}

// secCwdScript prints the working directory and lists it and its ancestors.
var secCwdScript = []string{"/bin/sh", "-c", "pwd; ls -a . .. ../.. ../../.. ../../../.."}

// TestCVE2024_21626 starts the runtime with host directory fds leaked into it and asks for a
// working directory of /proc/self/fd/N, for every small N: through process.cwd (create/run)
// and through exec --cwd. The container must never get a working directory outside its root.
func TestCVE2024_21626(t *testing.T) {
	testutil.RequireRoot(t)
	host, check := secHostDir(t)
	leaked := secLeakedDirs(t, host, 5)
	t.Run("process.cwd", func(t *testing.T) {
		for n := 3; n < 20; n++ {
			adj := 100 // opens husk's procfs handle before the cwd is entered
			var s *specs.Process
			b := testutil.NewBundle(t, func(sp *specs.Spec) {
				s = sp.Process
				sp.Process.Cwd = "/proc/self/fd/" + strconv.Itoa(n)
				sp.Process.OOMScoreAdj = &adj
				sp.Process.Args = secCwdScript
			})
			r := secRun(t, testutil.Runtime(), b, leaked, "run", "--bundle", b.Dir, b.ID)
			secCwdEscape(t, "process.cwd "+s.Cwd, r)
		}
	})
	t.Run("exec --cwd", func(t *testing.T) {
		b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} })
		b.Create()
		b.MustHusk("start", b.ID)
		for n := 3; n < 20; n++ {
			args := append([]string{"exec", "--cwd", "/proc/self/fd/" + strconv.Itoa(n), b.ID}, secCwdScript...)
			r := secRun(t, testutil.Runtime(), b, leaked, args...)
			secCwdEscape(t, "exec --cwd /proc/self/fd/"+strconv.Itoa(n), r)
		}
	})
	check()
}

// TestLeakedFds: fds the runtime inherits never reach the container. Its process holds only
// stdio and the preserved fds (checked from inside and from the host), and the container's
// init does not hold them while the container waits for start either (a process of the
// container that can reach the init's /proc/1/fd would find a host directory there).
func TestLeakedFds(t *testing.T) {
	testutil.RequireRoot(t)
	host, check := secHostDir(t)
	preserved := filepath.Join(t.TempDir(), "preserved")
	if err := os.WriteFile(preserved, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pf, err := os.Open(preserved)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	for _, preserve := range []int{0, 1} {
		t.Run(fmt.Sprintf("preserve-fds=%d", preserve), func(t *testing.T) {
			files := append([]*os.File{pf}, secLeakedDirs(t, host, 4)...)
			if preserve == 0 {
				files = files[1:]
			}
			want := []string{"0", "1", "2"}
			if preserve == 1 {
				want = append(want, "3 "+preserved)
			}
			b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "fds"} })
			r := secRun(t, testutil.Runtime(), b, files, "run", "--preserve-fds", strconv.Itoa(preserve), "--bundle", b.Dir, b.ID)
			if r.Code != 0 {
				t.Fatalf("run: exit %d: %s", r.Code, r.Stderr)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
				fd, target, _ := strings.Cut(l, " ")
				switch {
				case target == "": // the directory probe read /proc/self/fd through
				case strings.HasPrefix(target, "/sys/fs/cgroup/"): // the Go runtime's CPU quota files
				case fd == "3" && preserve == 1:
					got = append(got, l)
				default:
					got = append(got, fd)
				}
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("container fds: got %v, want %v\n%s", got, want, r.Stdout)
			}

			// From the host: the created container's init and then its process.
			// busybox sleep: the probe, a Go program, opens its own epoll and eventfd fds.
			b2 := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/bin/sleep", "60"} })
			pidFile := filepath.Join(b2.Dir, "pid")
			if r := secRun(t, testutil.Runtime(), b2, files, "create", "--preserve-fds", strconv.Itoa(preserve), "--pid-file", pidFile, "--bundle", b2.Dir, b2.ID); r.Code != 0 {
				t.Fatalf("create: exit %d: %s", r.Code, r.Stderr)
			}
			pidB, _ := os.ReadFile(pidFile)
			pid := strings.TrimSpace(string(pidB))
			if held := secFdsTo(t, pid, host); len(held) > 0 {
				t.Errorf("created container's init holds the leaked host directory as fds %v", held)
			}
			b2.MustHusk("start", b2.ID)
			n, _ := strconv.Atoi(pid)
			secWaitExec(t, n, "/bin/sleep")
			if held := secFdsTo(t, pid, host); len(held) > 0 {
				t.Errorf("container process holds the leaked host directory as fds %v", held)
			}
			var fds []string
			ents, err := os.ReadDir("/proc/" + pid + "/fd")
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				fds = append(fds, e.Name())
			}
			sort.Strings(fds)
			wantFds := "0,1,2"
			if preserve == 1 {
				wantFds += ",3"
			}
			if strings.Join(fds, ",") != wantFds {
				t.Errorf("host view of the container process's fds: got %v, want %s", fds, wantFds)
			}
		})
	}
	check()
}

// secFdsTo returns the fds of process pid that refer to dir (seen from the host).
func secFdsTo(t *testing.T, pid, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink("/proc/" + pid + "/fd/" + e.Name()); err == nil && l == dir {
			out = append(out, e.Name())
		}
	}
	return out
}
