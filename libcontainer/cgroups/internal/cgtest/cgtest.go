// Package cgtest holds helpers for the cgroup packages' tests only: skip
// helpers for privileged tests and a fake cgroup tree builder. Production
// code must not import it.
package cgtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

// RequireRoot skips t unless it runs as root in the initial user namespace.
func RequireRoot(t testing.TB) {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		t.Skipf("requires root (uid is %d); run with: go test -exec sudo", uid)
	}
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil || strings.Join(strings.Fields(string(b)), " ") != "0 0 4294967295" {
		t.Skip("requires root in the initial user namespace")
	}
}

// RequireV1 skips t unless the named v1 controllers are mounted, and
// returns the host.
func RequireV1(t testing.TB, controllers ...string) *cgcore.Host {
	t.Helper()
	RequireRoot(t)
	h, err := cgcore.DetectHost()
	if err != nil {
		t.Skipf("requires cgroups: %v", err)
	}
	if len(h.V1) == 0 {
		t.Skip("requires cgroup v1 hierarchies (this host is cgroup v2 only)")
	}
	for _, c := range controllers {
		if _, ok := h.V1[c]; !ok {
			t.Skipf("requires the cgroup v1 %s controller", c)
		}
	}
	return h
}

// RequireCgroup2Mount skips t unless a cgroup2 hierarchy is mounted (pure
// v2 or hybrid) and returns the host.
func RequireCgroup2Mount(t testing.TB) *cgcore.Host {
	t.Helper()
	RequireRoot(t)
	h, err := cgcore.DetectHost()
	if err != nil {
		t.Skipf("requires cgroups: %v", err)
	}
	if h.Unified == "" {
		t.Skip("requires a cgroup2 mount")
	}
	return h
}

var seq atomic.Int64

// Name returns a cgroup name unique to this test process and call.
func Name(t testing.TB) string {
	return fmt.Sprintf("husk-test-%d-%d-%s", os.Getpid(), seq.Add(1), strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
}

// Start runs a process for a test and kills and reaps it on cleanup.
func Start(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// Tree is a fake cgroup file system in a temporary directory.
type Tree struct {
	Root string
}

// NewTree makes an empty fake tree.
func NewTree(t testing.TB) *Tree { return &Tree{Root: t.TempDir()} }

// Files creates dir (relative to the tree) holding the given files with
// their contents, and returns its absolute path.
func (tr *Tree) Files(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	d := filepath.Join(tr.Root, dir)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// Read returns a file's content.
func (tr *Tree) Read(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tr.Root, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
