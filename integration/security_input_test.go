package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/testutil"
)

// TestBadContainerIDs: IDs that are not one plain path element are refused by every command,
// and nothing is created or removed outside the state root. (A NUL cannot be passed in argv.)
func TestBadContainerIDs(t *testing.T) {
	testutil.RequireRoot(t)
	ids := []string{"..", ".", "../escape", "a/b", "/abs", "a/../../escape", "a\nb", "a\x01b", "", " ", "a b", strings.Repeat("x", 5000)}
	b := testutil.NewBundle(t, nil)
	if err := os.MkdirAll(b.Root, 0o700); err != nil {
		t.Fatal(err)
	}
	before := secSnapshot(t, b.Dir)
	for _, id := range ids {
		for _, args := range [][]string{
			{"create", "--bundle", b.Dir, id}, {"run", "--bundle", b.Dir, id},
			{"state", id}, {"kill", id, "KILL"}, {"delete", "--force", id}, {"exec", id, "/bin/true"},
		} {
			if r := b.Husk(args...); r.Code == 0 {
				t.Errorf("%s %q: succeeded, want a refusal", args[0], id)
			}
		}
	}
	if after := secSnapshot(t, b.Dir); after != before {
		t.Errorf("the bundle directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestBundleSymlinks: the bundle's config.json is a symlink to a FIFO (reading it would block
// forever) and root.path is a symlink to a directory elsewhere or to a file.
func TestBundleSymlinks(t *testing.T) {
	testutil.RequireRoot(t)
	t.Run("config.json to a fifo", func(t *testing.T) {
		// runc 1.1.5 opens config.json without O_NONBLOCK and waits for a writer forever.
		testutil.RequireHusk(t)
		b := testutil.NewBundle(t, nil)
		fifo := filepath.Join(t.TempDir(), "fifo")
		if err := syscall.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
		secSymlink(t, filepath.Join(b.Dir, "config.json"), fifo)
		start := time.Now()
		r := b.Husk("create", "--bundle", b.Dir, b.ID)
		if r.Code == 0 {
			t.Errorf("create succeeded with config.json a FIFO")
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("create took %v with config.json a FIFO", d)
		}
	})
	t.Run("rootfs to a directory", func(t *testing.T) {
		b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "cat", "/whoami"} })
		real := filepath.Join(t.TempDir(), "real-rootfs")
		if err := os.Rename(b.Rootfs, real); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(real, "whoami"), []byte("the real rootfs\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		secSymlink(t, b.Rootfs, real)
		// Refusing is fine too (runc 1.1.5: "not an absolute path, or a symlink").
		if r := b.Run(); r.Code != 0 {
			t.Logf("refused: %s", r.Stderr)
		} else if r.Stdout != "the real rootfs\n" {
			t.Errorf("container sees %q, want the symlink's target", r.Stdout)
		}
		b.Husk("delete", "--force", b.ID)
		for _, d := range []string{real, b.Rootfs} {
			if m := secHostMounts(t, d); len(m) > 0 {
				t.Errorf("mounts left under %s: %v", d, m)
			}
		}
	})
	t.Run("rootfs to a file", func(t *testing.T) {
		b := testutil.NewBundle(t, nil)
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		secSymlink(t, b.Rootfs, file)
		if r := b.Husk("create", "--bundle", b.Dir, b.ID); r.Code == 0 {
			t.Errorf("create succeeded with root.path a file")
		}
		if m := secHostMounts(t, file); len(m) > 0 {
			t.Errorf("mounts left on %s: %v", file, m)
		}
	})
}

// TestStateTampered: between commands, state.json is edited to name a host process (one the
// test started) as the container's init. kill and delete must not signal it: husk records the
// init's start time and checks it. The file format is husk's own.
func TestStateTampered(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	victim := exec.Command("sleep", "300")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = victim.Process.Kill(); _ = victim.Wait() })
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/bin/sleep", "60"} })
	initPid := b.Create()
	path := filepath.Join(b.Root, b.ID, "state.json")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(orig, &st); err != nil {
		t.Fatal(err)
	}
	st["pid"] = victim.Process.Pid
	tampered, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	// Put the real state back for the bundle's cleanup, which deletes the real container
	// (delete --force below may have removed the state directory).
	t.Cleanup(func() {
		_ = os.MkdirAll(filepath.Dir(path), 0o700)
		_ = os.WriteFile(path, orig, 0o600)
	})
	for _, args := range [][]string{{"state", b.ID}, {"kill", b.ID, "KILL"}, {"kill", "--all", b.ID, "KILL"}, {"start", b.ID}, {"delete", "--force", b.ID}} {
		r := b.Husk(args...)
		t.Logf("%s: exit %d %s%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
		if err := victim.Process.Signal(syscall.Signal(0)); err != nil {
			t.Fatalf("%s signalled the host process named in the tampered state: %v", args[0], err)
		}
		if strings.Contains(r.Stdout, `"status": "running"`) || strings.Contains(r.Stdout, `"status": "created"`) {
			t.Errorf("state reports the host process as the container's init: %s", r.Stdout)
		}
	}
	t.Logf("container init %d after the commands: signal 0: %v", initPid, syscall.Kill(initPid, 0))
}
