package integration

import (
	"io"
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

// secRuntimeCopy copies the runtime under test into a directory of the test and returns the
// copy's path and hash: the CVE-2019-5736 tests attack the copy, so a vulnerable build can only
// damage it, never the build output or the installed runtime.
func secRuntimeCopy(t *testing.T) (path, hash string) {
	t.Helper()
	src, err := os.Open(testutil.Runtime())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	// The directory of the copy must be secTraversable by the user namespace's root too.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, filepath.Base(testutil.Runtime()))
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return path, secHash(t, path)
}

// secUserNS puts the container in a new user namespace mapping 0..65535 to host 100000.. and
// drops the cgroup v1 mount, which a user namespace cannot make.
func secUserNS(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	var mounts []specs.Mount
	for _, m := range s.Mounts {
		if m.Destination != "/sys/fs/cgroup" {
			mounts = append(mounts, m)
		}
	}
	s.Mounts = mounts
}

// secTraversable opens the bundle's directory and its parents up to /tmp to everyone, so that the
// root of a user namespace (a host uid without rights on the 0700 test directories) reaches it.
func secTraversable(t *testing.T, dir string) {
	t.Helper()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// secOutDir bind mounts a fresh directory of the test at /out in b's container, for results,
// and rewrites config.json.
func secOutDir(t *testing.T, b *testutil.Bundle) string {
	t.Helper()
	dir := t.TempDir()
	secTraversable(t, dir)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(b.Rootfs, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: dir, Options: []string{"rbind", "rw"}})
	b.WriteSpec()
	return dir
}

// secKillFirst registers a cleanup, run before the bundle's own, that kills the container and
// reaps its processes: a process started by `exec -d` is reparented to the test (a child
// subreaper), and the pid namespace's init cannot finish exiting while it is an unreaped zombie.
func secKillFirst(t *testing.T, b *testutil.Bundle) {
	t.Cleanup(func() {
		b.Husk("kill", b.ID, "KILL")
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			var ws unix.WaitStatus
			pid, _ := unix.Wait4(-1, &ws, unix.WNOHANG|unix.WALL, nil)
			if pid <= 0 {
				if st := b.Status(); st == "stopped" || st == "" {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	})
}

// secWaitFile waits for path to exist and be non-empty and returns its content.
func secWaitFile(t *testing.T, path string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no result in %s after %v", path, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// secCheckExeReport fails t if the attacker's report shows a successful write.
func secCheckExeReport(t *testing.T, report string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(report), "\n") {
		if strings.HasPrefix(l, "write-") && strings.HasSuffix(l, ": ok") {
			t.Errorf("the container wrote to the runtime's executable: %q", l)
		}
	}
}

// TestCVE2019_5736Create: while the container is created but not started, its pid 1 is the
// runtime's init. A process exec'd into the container opens /proc/1/exe for writing, and keeps
// an O_PATH handle to reopen it for writing once `start` has replaced the init's image. The
// runtime binary must be unchanged, from a plain container and from one in a user namespace
// (where husk makes the init dumpable again, so only the sealed copy protects the binary).
func TestCVE2019_5736Create(t *testing.T) {
	testutil.RequireRoot(t)
	for _, userns := range []bool{false, true} {
		t.Run("userns="+strconv.FormatBool(userns), func(t *testing.T) {
			if userns {
				// runc 1.1.5 cannot reopen the host's /dev/null stdio as the namespace's root.
				testutil.RequireHusk(t)
			}
			bin, hash := secRuntimeCopy(t)
			b := testutil.NewBundle(t, func(s *specs.Spec) {
				if userns {
					secUserNS(s)
				}
				s.Process.Args = []string{"/probe", "sleep", "30"}
			})
			out := secOutDir(t, b)
			if userns {
				secTraversable(t, b.Dir)
			}
			// NewBundle's cleanup (delete --force) runs with HUSK_RUNTIME; keep it the copy.
			t.Setenv("HUSK_RUNTIME", bin)
			secKillFirst(t, b)
			pid := b.Create()
			// From the host: the init does not run from the runtime's file.
			link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(link, bin) {
				t.Errorf("container init runs from the runtime's file %s, not a sealed copy", link)
			}
			if r := secRun(t, bin, b, nil, "exec", "-d", b.ID, "/probe", "exewrite", "/proc/1/exe", "/out/report", "10"); r.Code != 0 {
				t.Fatalf("exec attacker: exit %d: %s", r.Code, r.Stderr)
			}
			// Let the attacker get its handle before the init's image goes away.
			time.Sleep(300 * time.Millisecond)
			if r := secRun(t, bin, b, nil, "start", b.ID); r.Code != 0 {
				t.Fatalf("start: exit %d: %s", r.Code, r.Stderr)
			}
			report := secWaitFile(t, filepath.Join(out, "report"), 15*time.Second)
			t.Logf("attacker: init exe %s\n%s", link, report)
			secCheckExeReport(t, report)
			if got := secHash(t, bin); got != hash {
				t.Fatalf("runtime binary modified by the container: hash %s, want %s", got, hash)
			}
		})
	}
}

// TestCVE2019_5736Exec: the container's entrypoint-style script /evil starts with
// "#!/proc/self/exe", so running it through `exec` makes the kernel execute the runtime's own
// init image as the script's interpreter inside the container. An attacker process in the
// container grabs /proc/<pid>/exe of that process and writes to it once it exits. The
// runtime binary must be unchanged.
func TestCVE2019_5736Exec(t *testing.T) {
	testutil.RequireRoot(t)
	// runc 1.1.5 fails to exec a "#!/proc/self/exe" script (ENOENT): the attack cannot be staged.
	testutil.RequireHusk(t)
	t.Run("default capabilities", func(t *testing.T) { testCVE2019_5736Exec(t, nil) })
	// With CAP_SYS_ADMIN the attacker also tries to clone a read-only mount in the way and
	// make the clone writable.
	t.Run("CAP_SYS_ADMIN", func(t *testing.T) { testCVE2019_5736Exec(t, []string{"CAP_SYS_ADMIN"}) })
}

func testCVE2019_5736Exec(t *testing.T, extraCaps []string) {
	bin, hash := secRuntimeCopy(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "sleep", "60"}
		c := s.Process.Capabilities
		c.Bounding = append(c.Bounding, extraCaps...)
		c.Effective = append(c.Effective, extraCaps...)
		c.Permitted = append(c.Permitted, extraCaps...)
	})
	out := secOutDir(t, b)
	if err := os.WriteFile(filepath.Join(b.Rootfs, "evil"), []byte("#!/proc/self/exe\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HUSK_RUNTIME", bin)
	secKillFirst(t, b)
	b.Create()
	b.MustHusk("start", b.ID)
	// husk runs its init from a detached read-only mount of its binary: once the parent has
	// let go of it, /proc/<pid>/exe of the init no longer resolves, so the kernel cannot even
	// load it as the interpreter of "#!/proc/self/exe". That is the strongest outcome.
	if r := b.Husk("exec", b.ID, "/evil"); r.Code != 0 && strings.Contains(r.Stderr, "no such file or directory") {
		t.Logf("exec of a #!/proc/self/exe script fails: %s", strings.TrimSpace(r.Stderr))
		if got := secHash(t, bin); got != hash {
			t.Fatalf("runtime binary modified by the container: hash %s, want %s", got, hash)
		}
		return
	}
	if r := secRun(t, bin, b, nil, "exec", "-d", b.ID, "/probe", "exewrite", "cmdline=/evil", "/out/report", "20"); r.Code != 0 {
		t.Fatalf("exec attacker: exit %d: %s", r.Code, r.Stderr)
	}
	// The victim is the runtime's image with the argument "/evil": it prints a usage error and
	// exits. Its stderr is a full pipe, so it blocks in that write until the attacker has its
	// handle; then the pipe's read end is closed and it dies of SIGPIPE.
	rd, wr := secFullPipe(t)
	victim := exec.Command(bin, "--root", b.Root, "exec", "-d", b.ID, "/evil")
	victim.Stdout, victim.Stderr = wr, wr
	if err := victim.Run(); err != nil {
		t.Fatalf("exec victim: %v", err)
	}
	wr.Close()
	report := filepath.Join(out, "report")
	// The attacker polls /proc every few milliseconds; the victim waits as long as needed.
	time.Sleep(time.Second)
	rd.Close()
	r := secWaitFile(t, report, 25*time.Second)
	t.Logf("attacker:\n%s", r)
	if strings.Contains(r, "found: no process") {
		// The victim's interpreter vanished under it (the read-only mount of the binary was
		// released between the lookup and the load): nothing to attack, the hash below is
		// what matters.
		t.Logf("the attacker never saw the #! victim")
	} else {
		secCheckExeReport(t, r)
	}
	if got := secHash(t, bin); got != hash {
		t.Fatalf("runtime binary modified by the container: hash %s, want %s", got, hash)
	}
}

// secFullPipe returns a pipe whose buffer is full: a process writing to wr blocks until rd is
// read or closed.
func secFullPipe(t *testing.T) (rd, wr *os.File) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := unix.Write(p[1], buf); err != nil {
			break
		}
	}
	// O_NONBLOCK belongs to the open file description, which the victim shares.
	if err := unix.SetNonblock(p[1], false); err != nil {
		t.Fatal(err)
	}
	rd, wr = os.NewFile(uintptr(p[0]), "pipe-r"), os.NewFile(uintptr(p[1]), "pipe-w")
	t.Cleanup(func() { rd.Close(); wr.Close() })
	return rd, wr
}
