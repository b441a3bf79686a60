package integration

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/testutil"
)

// consoleReceiver listens on a unix socket for the pty master a runtime sends with
// SCM_RIGHTS (runc docs/terminals.md) and delivers it on the channel.
type consoleReceiver struct {
	Path   string
	master chan *os.File
	errc   chan error
}

func newConsoleReceiver(t *testing.T) *consoleReceiver {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	r := &consoleReceiver{Path: path, master: make(chan *os.File, 1), errc: make(chan error, 1)}
	go func() {
		f, err := receiveFd(l)
		if err != nil {
			r.errc <- err
			return
		}
		r.master <- f
	}()
	return r
}

func receiveFd(l *net.UnixListener) (*os.File, error) {
	conn, err := l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("control message: %v (%d messages)", err, len(msgs))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("SCM_RIGHTS: %v (%d fds)", err, len(fds))
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}

// Master waits for the pty master.
func (r *consoleReceiver) Master(t *testing.T) *os.File {
	t.Helper()
	select {
	case f := <-r.master:
		t.Cleanup(func() { f.Close() })
		return f
	case err := <-r.errc:
		t.Fatalf("console socket: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("console socket: no pty master within 10s")
	}
	return nil
}

// readAll reads the pty master until the container side closes (EIO), or timeout.
func readAll(t *testing.T, f *os.File, timeout time.Duration) string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				done <- sb.String()
				return
			}
		}
	}()
	select {
	case s := <-done:
		return strings.ReplaceAll(s, "\r\n", "\n")
	case <-time.After(timeout):
		t.Fatalf("pty output not finished after %v", timeout)
	}
	return ""
}

func TestConsoleSocket(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: 40, Width: 100}
		s.Process.Args = []string{"/bin/sh", "-c", "/probe tty; /probe winsize; /probe stat /dev/console; /probe stat $(/probe tty); /probe sleep 1"}
	})
	recv := newConsoleReceiver(t)
	pid := b.Create("--console-socket", recv.Path)
	master := recv.Master(t)
	// The master really is a pty master: TIOCGPTN answers.
	if _, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN); err != nil {
		t.Fatalf("received fd is not a pty master: %v", err)
	}
	b.MustHusk("start", b.ID)
	// From the host: the container's stdio is the pty slave of its own devpts.
	var fd0 string
	for i := 0; i < 100 && !strings.HasPrefix(fd0, "/dev/pts/"); i++ {
		fd0, _ = os.Readlink(fmt.Sprintf("/proc/%d/fd/0", pid))
		time.Sleep(10 * time.Millisecond)
	}
	out := readAll(t, master, 20*time.Second)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 4 {
		t.Fatalf("pty output: %q", out)
	}
	if !strings.HasPrefix(lines[0], "/dev/pts/") {
		t.Errorf("tty inside: got %q, want /dev/pts/N", lines[0])
	}
	if fd0 != lines[0] {
		t.Errorf("host view of fd 0: got %q, want %q", fd0, lines[0])
	}
	if lines[1] != "40 100" {
		t.Errorf("winsize: got %q, want \"40 100\" (consoleSize)", lines[1])
	}
	// /dev/console is the same pty (a bind mount of it).
	rdev := func(l string) string { _, r, _ := strings.Cut(l, "rdev="); return r }
	if !strings.HasPrefix(lines[2], "mode=20") || rdev(lines[2]) != rdev(lines[3]) || rdev(lines[3]) == "" {
		t.Errorf("/dev/console: %q, want the pty %q", lines[2], lines[3])
	}
	b.WaitStatus("stopped", 10*time.Second)
}

func TestConsoleRunInput(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.Args = []string{"/bin/sh", "-c", "read line; echo got:$line"}
	})
	recv := newConsoleReceiver(t)
	b.Create("--console-socket", recv.Path)
	master := recv.Master(t)
	b.MustHusk("start", b.ID)
	if _, err := master.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if out := readAll(t, master, 20*time.Second); !strings.Contains(out, "got:hello") {
		t.Errorf("pty round trip: got %q, want got:hello", out)
	}
}

func TestConsoleMissingSocket(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Terminal = true })
	r := b.Husk("create", "--bundle", b.Dir, b.ID)
	if r.Code == 0 {
		t.Fatal("create of a terminal container without --console-socket succeeded")
	}
	if _, err := os.Stat(filepath.Join(b.Root, b.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir left behind: %v", err)
	}
}

// TestConsoleOwnedByUser: a non-root process owns its pty, as a login shell would.
func TestConsoleOwnedByUser(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.User = specs.User{UID: 1000, GID: 1000}
		s.Process.Args = []string{"/bin/sh", "-c", "/probe stat $(/probe tty); echo ok > /dev/tty"}
	})
	recv := newConsoleReceiver(t)
	b.Create("--console-socket", recv.Path)
	master := recv.Master(t)
	b.MustHusk("start", b.ID)
	out := readAll(t, master, 20*time.Second)
	if !strings.Contains(out, " uid=1000 ") || !strings.Contains(out, "ok\n") {
		t.Errorf("pty of a uid 1000 process: %q, want it owned by 1000 and /dev/tty writable", out)
	}
}
