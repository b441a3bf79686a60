package exeseal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// selfExe returns the bytes of the running test binary.
func selfExe(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpen(t *testing.T) {
	f, err := Open()
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer f.Close()
	if !IsSealed(f) {
		t.Error("IsSealed: got false, want true")
	}
	if IsReadonly(f) {
		t.Error("IsReadonly of a memfd: got true, want false")
	}
	got := make([]byte, len(selfExe(t))+1)
	n, err := f.ReadAt(got, 0)
	if n != len(got)-1 || !bytes.Equal(got[:n], selfExe(t)) {
		t.Errorf("content: got %d bytes (err %v), want a copy of /proc/self/exe (%d bytes)", n, err, len(got)-1)
	}
	fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
	if err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("FD_CLOEXEC: got flags %#x (err %v), want set", fl, err)
	}

	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"write", func() error { _, err := f.WriteAt([]byte("x"), 0); return err }, unix.EPERM},
		{"truncate", func() error { return unix.Ftruncate(int(f.Fd()), 0) }, unix.EPERM},
		{"grow", func() error { return unix.Ftruncate(int(f.Fd()), int64(len(got))*2) }, unix.EPERM},
		{"remove seals", func() error {
			_, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_FUTURE_WRITE)
			return err
		}, unix.EPERM},
		{"reopen for write", func() error {
			w, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), os.O_WRONLY, 0)
			if err == nil {
				_, err = w.Write([]byte("x"))
				w.Close()
			}
			return err
		}, unix.EPERM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if err == nil {
				t.Fatalf("%s on the sealed copy: got nil error, want %v", tt.name, tt.want)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

func TestIsSealedPlainFile(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsSealed(f) {
		t.Error("IsSealed of a plain file: got true, want false")
	}
	if IsReadonly(f) {
		t.Error("IsReadonly of a temp file: got true, want false")
	}
}

// TestOpenReadonly needs CAP_SYS_ADMIN for open_tree(OPEN_TREE_CLONE); without it OpenReadonly
// falls back to Open, tested above.
func TestOpenReadonly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("open_tree(OPEN_TREE_CLONE) needs CAP_SYS_ADMIN: run as root (go test -exec sudo)")
	}
	f, err := OpenReadonly()
	if err != nil {
		t.Fatalf("OpenReadonly: %v", err)
	}
	defer f.Close()
	if IsSealed(f) {
		t.Skip("OpenReadonly fell back to a sealed copy: this kernel lacks open_tree/mount_setattr")
	}
	if !IsReadonly(f) {
		t.Error("IsReadonly: got false, want true")
	}
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat("/proc/self/exe", &b); err != nil {
		t.Fatal(err)
	}
	if a.Ino != b.Ino {
		t.Errorf("inode: got %d, want the running binary's %d", a.Ino, b.Ino)
	}
	path := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	// access(2) reports a read-only mount as EROFS even to root.
	if err := unix.Access(path, unix.W_OK); !errors.Is(err, unix.EROFS) {
		t.Errorf("access %s W_OK: got %v, want EROFS", path, err)
	}
	// open(2) checks ETXTBSY first: the test binary is running; a container's husk init is too.
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err == nil {
		w.Close()
		t.Fatalf("open %s for writing: got nil error, want EROFS", path)
	}
	if !errors.Is(err, unix.EROFS) && !errors.Is(err, unix.ETXTBSY) {
		t.Errorf("open %s for writing: got %v, want EROFS (or ETXTBSY)", path, err)
	}
	// The detached mount belongs to no mount namespace: it is not in our mount table.
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(mi, []byte("/proc/self/exe")) {
		t.Errorf("mountinfo shows the clone of /proc/self/exe")
	}
}

// helperEnv makes the test binary act as helperMain instead of running tests.
const helperEnv = "EXESEAL_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		helperMain()
	}
	os.Exit(m.Run())
}

// helperMain takes OpenReadonly's handle of its own binary, prints its fd number, and execs
// sleep with the fd inherited: like a husk init that has exec'd the container's program, its
// binary then runs nowhere, so only the mount can refuse a write.
func helperMain() {
	f, err := OpenReadonly()
	if err == nil && IsSealed(f) {
		err = errors.New("fell back to a sealed copy")
	}
	if err == nil {
		_, err = unix.FcntlInt(f.Fd(), unix.F_SETFD, 0)
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(f.Fd())
	err = unix.Exec("/bin/sleep", []string{"sleep", "60"}, nil)
	fmt.Println("error", err)
	os.Exit(1)
}

// TestOpenReadonlyAfterExec is CVE-2019-5736's attack: once the process that ran the binary
// has exec'd something else, open its handle for writing through /proc/<pid>/fd.
func TestOpenReadonlyAfterExec(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("open_tree(OPEN_TREE_CLONE) needs CAP_SYS_ADMIN: run as root (go test -exec sudo)")
	}
	// A copy of the test binary, so that this running test does not keep it busy (ETXTBSY).
	exe := filepath.Join(t.TempDir(), "helper")
	if err := os.WriteFile(exe, selfExe(t), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	fd, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper: %s", line)
	}
	procExe := fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if target, _ := os.Readlink(procExe); strings.HasSuffix(target, "sleep") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("helper did not exec sleep")
		}
	}
	path := fmt.Sprintf("/proc/%d/fd/%d", cmd.Process.Pid, fd)
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err == nil {
		w.Close()
		t.Fatalf("open %s for writing: got nil error, want EROFS", path)
	}
	if !errors.Is(err, unix.EROFS) {
		t.Errorf("open %s for writing: got %v, want EROFS", path, err)
	}
}
