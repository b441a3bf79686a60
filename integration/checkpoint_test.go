package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/testutil"
)

var criuCheck struct {
	once   sync.Once
	reason string // why checkpoint tests cannot run here; "" when they can
}

// requireCRIU skips t unless CRIU is installed and `criu check` passes on this kernel
// (probed once). Debian 12's criu 3.17 cannot parse the vDSO of newer kernels (6.18 here):
// these tests run in the VM lane's guests (tests/vm), whose kernel is 6.1.
func requireCRIU(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
	criuCheck.once.Do(func() {
		path, err := exec.LookPath("criu")
		if err != nil {
			criuCheck.reason = "criu is not installed (apt-get install criu)"
			return
		}
		out, err := exec.Command(path, "check").CombinedOutput()
		if err == nil {
			if _, err := exec.LookPath("iptables-restore"); err != nil {
				// criu's nftables lock (criu 3.17) leaves a restored network namespace locked.
				criuCheck.reason = "criu locks a container's network namespace with iptables-restore, which is not installed (apt-get install iptables)"
			}
			return
		}
		var uts unix.Utsname
		_ = unix.Uname(&uts)
		// The first error says why; the last only that kernel feature detection failed.
		why := lastLine(grepLine(string(out), "Error"))
		if strings.Contains(string(out), "vDSO") {
			why = "it cannot parse this kernel's vDSO: " + lastLine(grepLine(string(out), "vDSO"))
		}
		criuCheck.reason = fmt.Sprintf("`criu check` fails on kernel %s (%s); the checkpoint tests run in the VM lane (make vm-test)",
			unix.ByteSliceToString(uts.Release[:]), why)
	})
	if criuCheck.reason != "" {
		t.Skip(criuCheck.reason)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func grepLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return s
}

// stdioPipes are pipes for a container's stdio, as engines give (CRIU hands pipes back to
// a restored process with inherit_fd; a file outside the container could not be
// restored). child are the container's ends.
type stdioPipes struct{ child, ours []*os.File }

func newStdioPipes(t *testing.T) *stdioPipes {
	t.Helper()
	p := &stdioPipes{}
	for i := 0; i < 3; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			p.child, p.ours = append(p.child, r), append(p.ours, w)
		} else {
			p.child, p.ours = append(p.child, w), append(p.ours, r)
		}
	}
	t.Cleanup(func() {
		for _, f := range append(p.child, p.ours...) {
			f.Close()
		}
	})
	return p
}

// huskPiped runs the runtime with the pipes as its stdio (so the container inherits them)
// and its errors in a --log file, and fails t when it fails.
func huskPiped(t *testing.T, b *testutil.Bundle, p *stdioPipes, args ...string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "log")
	cmd := exec.Command(testutil.Runtime(), append([]string{"--root", b.Root, "--log", log}, args...)...)
	cmd.Dir = b.Dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = p.child[0], p.child[1], p.child[2]
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			msg, _ := os.ReadFile(log)
			t.Fatalf("%s %s: %v\nlog: %s", filepath.Base(testutil.Runtime()), strings.Join(args, " "), err, msg)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s %s: timed out after 60s", filepath.Base(testutil.Runtime()), strings.Join(args, " "))
	}
}

// readCount reads the counter file from the host, -1 when it is not there (yet).
func readCount(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1 // caught between truncate and write
	}
	return n
}

// waitCount waits until the counter reaches at least n and returns its value.
func waitCount(t *testing.T, path string, n int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c := readCount(path); c >= n {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("counter %s: got %d, want at least %d after 20s", path, readCount(path), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startCounter creates and starts b (its process a counter writing /tmp/count) with pipes
// as stdio, waits for it to count to 3 and returns the counter's host path and the init pid.
func startCounter(t *testing.T, b *testutil.Bundle) (string, int) {
	t.Helper()
	huskPiped(t, b, newStdioPipes(t), "create", "--bundle", b.Dir, b.ID)
	b.MustHusk("start", b.ID)
	count := filepath.Join(b.Rootfs, "tmp", "count")
	waitCount(t, count, 3)
	return count, statePid(t, b)
}

func statePid(t *testing.T, b *testutil.Bundle) int {
	t.Helper()
	var st struct{ Pid int }
	if err := json.Unmarshal([]byte(b.MustHusk("state", b.ID)), &st); err != nil {
		t.Fatal(err)
	}
	return st.Pid
}

// checkDumped checks that a checkpoint (not leaving it running) ended the container: its
// init is gone, the runtime no longer knows it, and the counter stands still.
func checkDumped(t *testing.T, b *testutil.Bundle, pid int, count string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		// The init may be a zombie child of this subreaper test process: reap it.
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if unix.Kill(pid, 0) != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("init %d still runs 5s after the checkpoint", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := b.Status(); st != "" {
		t.Errorf("after checkpoint: container status %q, want it deleted", st)
	}
	stopped := readCount(count)
	time.Sleep(300 * time.Millisecond)
	if now := readCount(count); now != stopped {
		t.Errorf("after checkpoint: counter moved from %d to %d", stopped, now)
	}
	return stopped
}

// restoreAndCheck restores b from img and checks that the counter goes on from where it
// stopped, seen from the host (the file, the new init's cmdline) and from inside (exec).
func restoreAndCheck(t *testing.T, b *testutil.Bundle, count string, stopped int, extra ...string) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			logCriuLogs(t, b.Dir)
		}
	})
	args := append([]string{"restore", "-d", "--bundle", b.Dir}, extra...)
	huskPiped(t, b, newStdioPipes(t), append(args, b.ID)...)
	if st := b.Status(); st != "running" {
		t.Fatalf("after restore: status %q, want running", st)
	}
	pid := statePid(t, b)
	if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || !strings.Contains(string(cmd), "counter") {
		t.Errorf("restored init %d: cmdline %q, err %v; want the counter", pid, cmd, err)
	}
	if first := readCount(count); first < stopped {
		t.Errorf("right after restore: counter %d, want at least %d (it must not start again)", first, stopped)
	}
	waitCount(t, count, stopped+3)
	in, err := strconv.Atoi(strings.TrimSpace(b.MustHusk("exec", b.ID, "/bin/cat", "/tmp/count")))
	if err != nil || in < stopped+3 {
		t.Errorf("counter inside: %d (%v), want at least %d", in, err, stopped+3)
	}
}

// logCriuLogs logs the lines of criu's logs under dir that say what went wrong.
func logCriuLogs(t *testing.T, dir string) {
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || !strings.HasSuffix(p, ".log") {
			return nil
		}
		b, _ := os.ReadFile(p)
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "Error") || strings.Contains(l, "Warn") || strings.Contains(l, "lock") || strings.Contains(l, "nft") {
				keep = append(keep, l)
			}
		}
		t.Logf("%s:\n%s", p, strings.Join(keep, "\n"))
		return nil
	})
}

func counterBundle(t *testing.T, mutate func(*specs.Spec)) *testutil.Bundle {
	return testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "counter", "/tmp/count"}
		if mutate != nil {
			mutate(s)
		}
	})
}

// tcpCounter makes the container's process a counter going round a loopback TCP
// connection (lo is down in a new network namespace: CAP_NET_ADMIN brings it up).
func tcpCounter(s *specs.Spec) {
	s.Process.Args = []string{"/bin/sh", "-c", "/bin/busybox ip link set lo up && exec /probe tcpcounter /tmp/count"}
	c := s.Process.Capabilities
	c.Bounding = append(c.Bounding, "CAP_NET_ADMIN")
	c.Effective = append(c.Effective, "CAP_NET_ADMIN")
	c.Permitted = append(c.Permitted, "CAP_NET_ADMIN")
}

// TestCheckpointRestore: a counter is checkpointed (the container ends), restored, and counts
// on from where it stopped.
func TestCheckpointRestore(t *testing.T) {
	requireCRIU(t)
	b := counterBundle(t, nil)
	count, pid := startCounter(t, b)
	img := filepath.Join(b.Dir, "image")
	b.MustHusk("checkpoint", "--image-path", img, "--work-path", filepath.Join(b.Dir, "work"), b.ID)
	if _, err := os.Stat(filepath.Join(b.Dir, "work", "dump.log")); err != nil {
		t.Errorf("--work-path: no criu log: %v", err)
	}
	stopped := checkDumped(t, b, pid, count)
	restoreAndCheck(t, b, count, stopped, "--image-path", img, "--work-path", filepath.Join(b.Dir, "rwork"))
}

// TestCheckpointPreDump: a pre-dump leaves the container running; a dump against it
// (--parent-path) then restores like a full one.
func TestCheckpointPreDump(t *testing.T) {
	requireCRIU(t)
	b := counterBundle(t, nil)
	count, pid := startCounter(t, b)
	parent, img := filepath.Join(b.Dir, "parent"), filepath.Join(b.Dir, "image")
	b.MustHusk("checkpoint", "--pre-dump", "--image-path", parent, b.ID)
	if st := b.Status(); st != "running" {
		t.Fatalf("after --pre-dump: status %q, want running", st)
	}
	before := readCount(count)
	waitCount(t, count, before+2)
	b.MustHusk("checkpoint", "--parent-path", "../parent", "--image-path", img, b.ID)
	if l, err := os.Readlink(filepath.Join(img, "parent")); err != nil || l != "../parent" {
		t.Errorf("image's parent link: %q, %v; want ../parent", l, err)
	}
	stopped := checkDumped(t, b, pid, count)
	restoreAndCheck(t, b, count, stopped, "--image-path", img)
}

// TestCheckpointLeaveRunning: --leave-running dumps and the container goes on.
func TestCheckpointLeaveRunning(t *testing.T) {
	requireCRIU(t)
	b := counterBundle(t, nil)
	count, pid := startCounter(t, b)
	b.MustHusk("checkpoint", "--leave-running", "--image-path", filepath.Join(b.Dir, "image"), b.ID)
	if st := b.Status(); st != "running" || statePid(t, b) != pid {
		t.Errorf("after --leave-running: status %q, want running with init %d", st, pid)
	}
	waitCount(t, count, readCount(count)+3)
}

// TestCheckpointTCP: a container with an open loopback TCP connection is refused without
// --tcp-established (and keeps running), and with it comes back with the connection working.
func TestCheckpointTCP(t *testing.T) {
	requireCRIU(t)
	b := counterBundle(t, tcpCounter)
	count, pid := startCounter(t, b)
	img := filepath.Join(b.Dir, "image")
	if r := b.Husk("checkpoint", "--image-path", img, b.ID); r.Code == 0 {
		t.Fatalf("checkpoint of an established TCP connection without --tcp-established succeeded")
	}
	if st := b.Status(); st != "running" {
		t.Fatalf("after the refused checkpoint: status %q, want running", st)
	}
	b.MustHusk("checkpoint", "--tcp-established", "--image-path", img, b.ID)
	stopped := checkDumped(t, b, pid, count)
	restoreAndCheck(t, b, count, stopped, "--tcp-established", "--image-path", img)
}

// TestCheckpointCriuConfig: the org.criu.config annotation names a CRIU configuration file
// for the container's checkpoint and restore: one saying tcp-established lets a container
// with an open TCP connection through without the flag.
func TestCheckpointCriuConfig(t *testing.T) {
	requireCRIU(t)
	conf := filepath.Join(t.TempDir(), "criu.conf")
	if err := os.WriteFile(conf, []byte("tcp-established\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := counterBundle(t, func(s *specs.Spec) {
		tcpCounter(s)
		s.Annotations = map[string]string{"org.criu.config": conf}
	})
	count, pid := startCounter(t, b)
	img := filepath.Join(b.Dir, "image")
	b.MustHusk("checkpoint", "--image-path", img, b.ID)
	stopped := checkDumped(t, b, pid, count)
	restoreAndCheck(t, b, count, stopped, "--image-path", img)
}

// TestCheckpointNoCRIU: without criu the error says what is missing, and the container runs on.
// This one runs everywhere: it needs no working criu.
func TestCheckpointNoCRIU(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t) // husk's message
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} })
	startSleeper(t, b)
	r := b.Husk("--criu", "/nonexistent/criu", "checkpoint", "--image-path", filepath.Join(b.Dir, "image"), b.ID)
	if r.Code == 0 || !strings.Contains(r.Stderr, "criu not found") || !strings.Contains(r.Stderr, "apt-get install criu") {
		t.Errorf("checkpoint with --criu /nonexistent/criu: exit %d, stderr %q; want a criu not found error", r.Code, r.Stderr)
	}
	if st := b.Status(); st != "running" {
		t.Errorf("after the failed checkpoint: status %q, want running", st)
	}
	r = b.Husk("--criu", "/nonexistent/criu", "restore", "--image-path", filepath.Join(b.Dir, "image"), "--bundle", b.Dir, "other")
	if r.Code == 0 || !strings.Contains(r.Stderr, "criu not found") {
		t.Errorf("restore with --criu /nonexistent/criu: exit %d, stderr %q; want a criu not found error", r.Code, r.Stderr)
	}
}

// TestCheckpointTerminal: a container with a terminal comes back with a new pty whose master
// the restore sends to its --console-socket (criu's orphan-pts-master).
func TestCheckpointTerminal(t *testing.T) {
	requireCRIU(t)
	b := counterBundle(t, func(s *specs.Spec) { s.Process.Terminal = true })
	r := newConsoleReceiver(t)
	pid := b.Create("--console-socket", r.Path)
	r.Master(t)
	b.MustHusk("start", b.ID)
	count := filepath.Join(b.Rootfs, "tmp", "count")
	waitCount(t, count, 3)
	img := filepath.Join(b.Dir, "image")
	b.MustHusk("checkpoint", "--image-path", img, b.ID)
	stopped := checkDumped(t, b, pid, count)
	t.Cleanup(func() {
		if t.Failed() {
			logCriuLogs(t, b.Dir)
		}
	})
	r2 := newConsoleReceiver(t)
	b.MustHusk("restore", "-d", "--console-socket", r2.Path, "--image-path", img, "--bundle", b.Dir, b.ID)
	master := r2.Master(t)
	waitCount(t, count, stopped+3)
	// Outside: the restored init's stdin is a pty, and its master is the one we were sent.
	npid := statePid(t, b)
	if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/0", npid)); err != nil || !strings.HasPrefix(l, "/dev/pts/") {
		t.Errorf("restored init's fd 0: %q, %v; want a /dev/pts pty", l, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(master.Fd()), &st); err != nil || unix.Major(st.Rdev) != 5 || unix.Minor(st.Rdev) != 2 {
		t.Errorf("received fd: rdev %d:%d, %v; want a ptmx master (5:2)", unix.Major(st.Rdev), unix.Minor(st.Rdev), err)
	}
}
