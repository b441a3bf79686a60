// Package testutil helps husk's tests drive a runtime binary against real bundles. It is
// imported only by tests.
package testutil

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/spec"
)

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Runtime is the runtime binary under test: $HUSK_RUNTIME, or the repo's ./husk.
func Runtime() string {
	if r := os.Getenv("HUSK_RUNTIME"); r != "" {
		return r
	}
	return filepath.Join(RepoRoot(), "husk")
}

// IsHusk reports whether the runtime under test is husk (some checks are husk-specific).
func IsHusk() bool {
	out, err := exec.Command(Runtime(), "--version").Output()
	return err == nil && bytes.HasPrefix(out, []byte("husk"))
}

// RequireRoot skips t unless it runs as root in the initial user namespace.
func RequireRoot(t testing.TB) {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		t.Skipf("requires root (uid is %d); run with: sudo go test", uid)
	}
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil || strings.Join(strings.Fields(string(b)), " ") != "0 0 4294967295" {
		t.Skip("requires root in the initial user namespace")
	}
}

// RequireHusk skips t when the runtime under test is not husk.
func RequireHusk(t testing.TB) {
	t.Helper()
	if !IsHusk() {
		t.Skipf("checks husk-specific behaviour; runtime under test is %s", Runtime())
	}
}

// RequireCgroupV1 skips t unless cgroup v1 controllers are mounted.
func RequireCgroupV1(t testing.TB, controller string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", controller, "tasks")); err != nil {
		t.Skipf("requires the cgroup v1 %s controller", controller)
	}
}

// RequireCgroupV2 skips t unless /sys/fs/cgroup is a cgroup2 mount.
func RequireCgroupV2(t testing.TB) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skip("requires the cgroup v2 unified hierarchy at /sys/fs/cgroup (runs in the VM lane)")
	}
}

// Setup prepares a test binary: it becomes a child subreaper so that container inits left by
// `create` are reparented to it (as they are to an engine's shim), and it removes the cgroup
// parents its containers shared. Call from TestMain.
func Setup(m *testing.M) int {
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	code := m.Run()
	removeCgroupParents()
	if templateDir != "" {
		os.RemoveAll(templateDir)
	}
	return code
}

// CgroupParent is the relative cgroup every test container nests in.
func CgroupParent() string { return "husk-test-" + strconv.Itoa(os.Getpid()) }

func removeCgroupParents() {
	// Each hierarchy: the parent sits under this process's own cgroup there.
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, mnt := range cgroupMounts(parts[1]) {
			_ = os.Remove(filepath.Join(mnt, parts[2], CgroupParent()))
		}
	}
}

func cgroupMounts(ctrls string) []string {
	if ctrls == "" {
		return []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}
	}
	name := strings.TrimPrefix(ctrls, "name=")
	return []string{filepath.Join("/sys/fs/cgroup", name)}
}

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error
)

// rootfsTemplate builds (once) a rootfs with static busybox and the probe.
func rootfsTemplate() (string, error) {
	templateOnce.Do(func() {
		dir, err := os.MkdirTemp("", "husk-rootfs-")
		if err != nil {
			templateErr = err
			return
		}
		templateDir = dir
		// MkdirTemp makes it 0700; it becomes the container's "/", which every user must traverse.
		if err := os.Chmod(dir, 0o755); err != nil {
			templateErr = err
			return
		}
		probe := filepath.Join(dir, "probe")
		cmd := exec.Command("go", "build", "-o", probe, "./tests/probe")
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			templateErr = fmt.Errorf("build probe: %v: %s", err, out)
			return
		}
		bb, err := exec.LookPath("busybox")
		if err != nil {
			bb = "/bin/busybox"
		}
		if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
			templateErr = err
			return
		}
		if out, err := exec.Command("cp", bb, filepath.Join(dir, "bin", "busybox")).CombinedOutput(); err != nil {
			templateErr = fmt.Errorf("copy busybox (apt-get install busybox-static): %v: %s", err, out)
			return
		}
		for _, app := range []string{"sh", "true", "false", "cat", "echo", "sleep", "ls", "id", "ps", "kill", "mkdir", "touch", "tty", "hostname", "env", "top", "test", "head", "dd", "grep", "readlink", "stat", "wc", "rm", "ln"} {
			_ = os.Symlink("busybox", filepath.Join(dir, "bin", app))
		}
		for _, d := range []string{"proc", "sys", "dev", "tmp", "etc", "root"} {
			_ = os.MkdirAll(filepath.Join(dir, d), 0o755)
		}
		_ = os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"), 0o644)
		_ = os.WriteFile(filepath.Join(dir, "etc", "group"), []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644)
	})
	return templateDir, templateErr
}

// Bundle is a bundle directory with its own state root and container ID.
type Bundle struct {
	t      testing.TB
	Dir    string
	Rootfs string
	Root   string // --root for the runtime
	ID     string
	Spec   *specs.Spec
	// GlobalArgs go before the command in every runtime call (e.g. --systemd-cgroup).
	GlobalArgs []string
}

var idSeq struct {
	sync.Mutex
	n int
}

// NewBundle makes a bundle whose rootfs has busybox and /probe, with the default config
// (spec.Example) adjusted for tests: no terminal, args from mutate, a relative cgroupsPath
// under CgroupParent. It registers cleanup that deletes the container.
func NewBundle(t testing.TB, mutate func(*specs.Spec)) *Bundle {
	t.Helper()
	tmpl, err := rootfsTemplate()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	if out, err := exec.Command("cp", "-a", tmpl, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("copy rootfs: %v: %s", err, out)
	}
	idSeq.Lock()
	idSeq.n++
	id := fmt.Sprintf("t%d-%d", os.Getpid(), idSeq.n)
	idSeq.Unlock()
	s := spec.Example()
	s.Process.Terminal = false
	s.Process.Args = []string{"/probe", "hostname"}
	s.Root.Readonly = false
	s.Linux.CgroupsPath = CgroupParent() + "/" + id
	if mutate != nil {
		mutate(s)
	}
	b := &Bundle{t: t, Dir: dir, Rootfs: rootfs, Root: filepath.Join(dir, "state"), ID: id, Spec: s}
	b.WriteSpec()
	t.Cleanup(b.cleanup)
	return b
}

// WriteSpec (re)writes config.json from b.Spec.
func (b *Bundle) WriteSpec() {
	data, err := json.MarshalIndent(b.Spec, "", "  ")
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Dir, "config.json"), data, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// Result is one runtime invocation's outcome.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Husk runs the runtime with --root b.Root and args, with a timeout, and returns its outcome.
func (b *Bundle) Husk(args ...string) Result {
	b.t.Helper()
	return b.HuskIn(nil, args...)
}

// HuskIn is Husk with stdin.
func (b *Bundle) HuskIn(stdin []byte, args ...string) Result {
	b.t.Helper()
	global := append([]string{"--root", b.Root}, b.GlobalArgs...)
	cmd := exec.Command(Runtime(), append(global, args...)...)
	cmd.Dir = b.Dir
	// Files, not pipes: a created container inherits the runtime's stdio and keeps it open,
	// so waiting for a pipe's EOF would wait for the container.
	outF, errF := tempFile(b.t), tempFile(b.t)
	defer outF.Close()
	defer errF.Close()
	cmd.Stdout, cmd.Stderr = outF, errF
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start %s: %v", Runtime(), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		b.t.Fatalf("%s %v: timed out after 60s", Runtime(), args)
	}
	out, _ := os.ReadFile(outF.Name())
	errb, _ := os.ReadFile(errF.Name())
	return Result{Stdout: string(out), Stderr: string(errb), Code: cmd.ProcessState.ExitCode()}
}

func tempFile(t testing.TB) *os.File {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// MustHusk runs the runtime and fails the test on a non-zero exit.
func (b *Bundle) MustHusk(args ...string) string {
	b.t.Helper()
	r := b.Husk(args...)
	if r.Code != 0 {
		b.t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", filepath.Base(Runtime()), strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// Run runs the container to completion (`run --bundle Dir ID`).
func (b *Bundle) Run() Result {
	b.t.Helper()
	return b.Husk("run", "--bundle", b.Dir, b.ID)
}

// MustRun runs the container and returns its stdout, failing on a non-zero exit.
func (b *Bundle) MustRun() string {
	b.t.Helper()
	r := b.Run()
	if r.Code != 0 {
		b.t.Fatalf("run: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// Create creates the container with the bundle's config (stdio to /dev/null) and returns
// the init's pid.
func (b *Bundle) Create(extra ...string) int {
	b.t.Helper()
	pidFile := filepath.Join(b.Dir, "init.pid")
	args := append([]string{"create", "--bundle", b.Dir, "--pid-file", pidFile}, extra...)
	b.MustHusk(append(args, b.ID)...)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		b.t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		b.t.Fatalf("pid file %q: %v", data, err)
	}
	return pid
}

// State returns the runtime's `state` of the container.
func (b *Bundle) State() map[string]any {
	b.t.Helper()
	var st map[string]any
	out := b.MustHusk("state", b.ID)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		b.t.Fatalf("state output %q: %v", out, err)
	}
	return st
}

// Status returns the container's status ("" when it does not exist).
func (b *Bundle) Status() string {
	b.t.Helper()
	r := b.Husk("state", b.ID)
	if r.Code != 0 {
		return ""
	}
	var st struct{ Status string }
	_ = json.Unmarshal([]byte(r.Stdout), &st)
	return st.Status
}

// WaitStatus polls until the container has status want, or fails after timeout.
func (b *Bundle) WaitStatus(want string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := b.Status()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("status: got %q, want %q after %v", got, want, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (b *Bundle) cleanup() {
	pid := 0
	if st := b.Status(); st != "" {
		var s struct{ Pid int }
		_ = json.Unmarshal([]byte(b.Husk("state", b.ID).Stdout), &s)
		pid = s.Pid
		if r := b.Husk("delete", "--force", b.ID); r.Code != 0 {
			b.t.Errorf("cleanup: delete --force %s: %s", b.ID, r.Stderr)
		}
	}
	if pid > 0 {
		// The init was reparented to us (subreaper): reap it.
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	}
	reapOrphans()
}

// reapOrphans reaps exited children that nobody else waits for: container inits reparented
// to this subreaper.
func reapOrphans() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG|unix.WALL, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
