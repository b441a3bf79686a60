package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// childEnv selects a child mode of the re-executed test binary.
const childEnv = "HUSK_PROCFS_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		// Keep the main goroutine on the main thread: /proc/thread-self
		// and the mounts below name this thread.
		runtime.LockOSThread()
		if err := runChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func requireRoot(t *testing.T) {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		t.Skipf("requires root (uid is %d); run with: go test -exec sudo", uid)
	}
	if !initialUserNS() {
		t.Skip("requires root in the initial user namespace")
	}
}

// privileged reports whether the test runs as root in the initial user
// namespace, where every source of a procfs root must work.
func privileged() bool {
	return os.Geteuid() == 0 && initialUserNS()
}

func initialUserNS() bool {
	data, err := os.ReadFile("/proc/self/uid_map")
	return err == nil && strings.Join(strings.Fields(string(data)), " ") == "0 0 4294967295"
}

func TestCleanPath(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "relative", in: "sys/kernel/domainname", want: "sys/kernel/domainname"},
		{name: "proc prefix", in: "/proc/sys/net/ipv4/ip_forward", want: "sys/net/ipv4/ip_forward"},
		{name: "untidy", in: "self//attr/./exec/", want: "self/attr/exec"},
		{name: "thread-self", in: "thread-self/attr/apparmor/exec", want: "thread-self/attr/apparmor/exec"},
		{name: "empty", in: "", wantErr: true},
		{name: "proc root", in: "/proc/", wantErr: true},
		{name: "absolute elsewhere", in: "/etc/passwd", wantErr: true},
		{name: "dot", in: ".", wantErr: true},
		{name: "escape", in: "../etc/passwd", wantErr: true},
		{name: "escape after clean", in: "sys/../../etc", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cleanPath(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("cleanPath(%q): got error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("cleanPath(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// handles returns a handle per source that works here; fsopen and open_tree
// need root, the plain source does not.
func handles(t *testing.T) map[source]*Handle {
	t.Helper()
	hs := map[source]*Handle{}
	for _, src := range []source{sourceFsopen, sourceOpenTree, sourcePlain} {
		h, err := openSource(src)
		if err != nil {
			if privileged() {
				t.Fatalf("open %v handle as root: %v", src, err)
			}
			t.Logf("source %v unavailable: %v", src, err)
			continue
		}
		t.Cleanup(func() { h.Close() })
		hs[src] = h
	}
	return hs
}

func TestOpenRead(t *testing.T) {
	for src, h := range handles(t) {
		t.Run(src.String(), func(t *testing.T) {
			runtime.LockOSThread() // never unlocked: the thread is discarded
			for _, p := range []string{"self/status", "thread-self/status", "/proc/sys/kernel/cap_last_cap"} {
				f, err := h.Open(p, unix.O_RDONLY)
				if err != nil {
					t.Fatalf("open %s: %v", p, err)
				}
				data, err := io.ReadAll(f)
				f.Close()
				if err != nil || len(data) == 0 {
					t.Fatalf("read %s: %d bytes, error %v", p, len(data), err)
				}
			}
			f, err := h.OpenThreadSelf("status", unix.O_RDONLY)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			data, _ := io.ReadAll(f)
			want := fmt.Sprintf("\nPid:\t%d\n", unix.Gettid())
			if !bytes.Contains(data, []byte(want)) {
				t.Errorf("thread-self/status does not name thread %d:\n%s", unix.Gettid(), data)
			}
		})
	}
}

func TestWriteComm(t *testing.T) {
	for src, h := range handles(t) {
		t.Run(src.String(), func(t *testing.T) {
			runtime.LockOSThread() // never unlocked: the renamed thread is discarded
			want := "husk-" + src.String()
			if err := h.WriteFile("thread-self/comm", []byte(want)); err != nil {
				t.Fatal(err)
			}
			if got := threadName(t); got != want {
				t.Errorf("thread name: got %q, want %q", got, want)
			}
		})
	}
}

func threadName(t *testing.T) string {
	t.Helper()
	var buf [16]byte
	if err := unix.Prctl(unix.PR_GET_NAME, uintptr(unsafePointer(&buf[0])), 0, 0, 0); err != nil {
		t.Fatalf("prctl PR_GET_NAME: %v", err)
	}
	return string(bytes.TrimRight(buf[:], "\x00"))
}

func TestLinksRefused(t *testing.T) {
	tests := []struct{ name, path string }{
		{name: "plain symlink", path: "mounts"},
		{name: "symlink in the middle", path: "net/dev"},
		{name: "magic link", path: "thread-self/cwd"},
		{name: "through magic link", path: "self/root/etc/hostname"},
		{name: "fd magic link", path: "self/fd/0"},
		{name: "exe", path: "self/exe"},
	}
	for src, h := range handles(t) {
		for _, tt := range tests {
			t.Run(src.String()+"/"+tt.name, func(t *testing.T) {
				f, err := h.Open(tt.path, unix.O_RDONLY)
				if err == nil {
					f.Close()
					t.Fatalf("open %s: got success, want ELOOP", tt.path)
				}
				if !errors.Is(err, unix.ELOOP) {
					t.Errorf("open %s: got %v, want ELOOP", tt.path, err)
				}
			})
		}
	}
}

func TestDefault(t *testing.T) {
	h1, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	h2, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 {
		t.Error("Default returned two handles")
	}
	if privileged() && h1.src != sourceFsopen {
		t.Errorf("default source as root: got %v, want fsopen", h1.src)
	}
}

// TestOvermount runs overmountChild in a private mount namespace: targets
// covered by a bind mount or a tmpfs must be refused through a plain /proc
// root and reached for real through the private instance.
func TestOvermount(t *testing.T) {
	requireRoot(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("requires unshare(1): %v", err)
	}
	cmd := exec.Command(unshare, "-m", "--propagation", "private", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=overmount")
	out, err := cmd.CombinedOutput()
	t.Logf("child output:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
}

func runChild(mode string) error {
	switch mode {
	case "overmount":
		return overmountChild()
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func overmountChild() error {
	task := fmt.Sprintf("/proc/%d/task/%d", unix.Getpid(), unix.Gettid())
	h := map[source]*Handle{}
	for _, src := range []source{sourceFsopen, sourceOpenTree, sourcePlain} {
		var err error
		if h[src], err = openSource(src); err != nil {
			return err
		}
	}

	// 1. A regular file bind-mounted over thread-self/comm.
	fake, err := os.CreateTemp("", "husk-procfs-fake-comm-")
	if err != nil {
		return err
	}
	defer os.Remove(fake.Name())
	fake.Close()
	if err := unix.Mount(fake.Name(), task+"/comm", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", task+"/comm", err)
	}
	if err := h[sourcePlain].WriteFile("thread-self/comm", []byte("bad")); !errors.Is(err, unix.EXDEV) {
		return fmt.Errorf("plain root, comm under a bind mount: got %v, want EXDEV", err)
	}
	fmt.Println("ok: plain root refuses bind-mounted comm with EXDEV")
	for _, src := range []source{sourceFsopen, sourceOpenTree} {
		want := "real-" + src.String()
		if err := h[src].WriteFile("thread-self/comm", []byte(want)); err != nil {
			return fmt.Errorf("%v root, comm under a bind mount: %w", src, err)
		}
		comm, err := os.ReadFile(task + "/comm") // the overmount: still empty?
		if err != nil {
			return err
		}
		if len(comm) != 0 {
			return fmt.Errorf("%v root wrote to the overmount: %q", src, comm)
		}
		var buf [16]byte
		if err := unix.Prctl(unix.PR_GET_NAME, uintptr(unsafePointer(&buf[0])), 0, 0, 0); err != nil {
			return err
		}
		if got := string(bytes.TrimRight(buf[:], "\x00")); got != want {
			return fmt.Errorf("%v root: thread name %q, want %q", src, got, want)
		}
		fmt.Printf("ok: %v root writes the real comm under a bind mount\n", src)
	}

	// 2. A tmpfs over thread-self/attr holding a fake exec file.
	if err := unix.Mount("tmpfs", task+"/attr", "tmpfs", 0, "size=16k"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", task+"/attr", err)
	}
	if err := os.WriteFile(filepath.Join(task, "attr", "exec"), nil, 0o600); err != nil {
		return err
	}
	if f, err := h[sourcePlain].OpenThreadSelf("attr/exec", unix.O_WRONLY); !errors.Is(err, unix.EXDEV) {
		if f != nil {
			f.Close()
		}
		return fmt.Errorf("plain root, attr under tmpfs: got %v, want EXDEV", err)
	}
	fmt.Println("ok: plain root refuses attr/exec under a tmpfs with EXDEV")
	f, err := h[sourceFsopen].OpenThreadSelf("attr/exec", unix.O_WRONLY)
	if err != nil {
		return fmt.Errorf("fsopen root, attr under tmpfs: %w", err)
	}
	f.Close()
	fmt.Println("ok: fsopen root reaches the real attr/exec under a tmpfs")

	// 3. A symlink planted in a tmpfs: cannot be reached either way.
	if err := os.Symlink("/proc/self/sched", filepath.Join(task, "attr", "link")); err != nil {
		return err
	}
	if f, err := h[sourcePlain].OpenThreadSelf("attr/link", unix.O_RDONLY); err == nil {
		f.Close()
		return errors.New("plain root followed a symlink in an overmount")
	}
	fmt.Println("ok: symlink in an overmount refused")

	// 4. A tmpfs over /proc itself: only the private instance still works.
	if err := unix.Mount("tmpfs", "/proc", "tmpfs", 0, "size=16k"); err != nil {
		return fmt.Errorf("mount tmpfs on /proc: %w", err)
	}
	for _, src := range []source{sourcePlain, sourceOpenTree} {
		if h, err := openSource(src); !errors.Is(err, ErrNotProcfs) {
			if h != nil {
				h.Close()
			}
			return fmt.Errorf("%v root over a tmpfs /proc: got %v, want ErrNotProcfs", src, err)
		}
	}
	fmt.Println("ok: plain and open_tree roots refuse a tmpfs /proc")
	hf, err := openSource(sourceFsopen)
	if err != nil {
		return fmt.Errorf("fsopen root with a tmpfs /proc: %w", err)
	}
	defer hf.Close()
	if err := hf.WriteFile("thread-self/comm", []byte("still-real")); err != nil {
		return fmt.Errorf("fsopen root with a tmpfs /proc: %w", err)
	}
	fmt.Println("ok: fsopen root works with a tmpfs /proc")
	return nil
}

func BenchmarkOpenSource(b *testing.B) {
	for _, src := range []source{sourceFsopen, sourceOpenTree, sourcePlain} {
		b.Run(src.String(), func(b *testing.B) {
			for b.Loop() {
				h, err := openSource(src)
				if err != nil {
					b.Skip(err)
				}
				h.Close()
			}
		})
	}
}

func BenchmarkWriteThreadSelf(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := h.WriteFile("thread-self/comm", []byte("bench")); err != nil {
			b.Fatal(err)
		}
	}
}
