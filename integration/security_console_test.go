package integration

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/testutil"
)

// secConsoleSocket listens on a unix socket for the runtime's --console-socket and returns its
// path and a channel that delivers the pty master received on it.
func secConsoleSocket(t *testing.T) (string, <-chan *os.File) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan *os.File, 1)
	go func() {
		defer close(ch)
		_ = l.SetDeadline(time.Now().Add(30 * time.Second))
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			return
		}
		ch <- os.NewFile(uintptr(fds[0]), "pty-master")
	}()
	return path, ch
}

// TestConsoleNotRedirected: with process.terminal, the image's /dev is its own (no tmpfs) and
// its /dev/console is a symlink to a file of the host; in a second case /dev/pts is not a
// devpts either but holds symlinks named 0..63 and ptmx to files of the host, where a runtime
// that opens the pty peer by its /dev/pts/N name would be led (CVE-2025-52565). The console
// must be a real pty of the container's devpts, or the runtime refuses; no host file changes.
func TestConsoleNotRedirected(t *testing.T) {
	testutil.RequireRoot(t)
	cases := []struct {
		name     string
		noDevpts bool
	}{
		{"console symlink", false},
		{"pts symlinks without devpts", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host, check := secHostDir(t)
			b := testutil.NewBundle(t, func(s *specs.Spec) {
				secWithout(s, "/dev")
				if !tc.noDevpts {
					s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
						Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}})
				}
				s.Process.Terminal = true
				s.Process.Args = []string{"/bin/sleep", "60"}
			})
			dev := filepath.Join(b.Rootfs, "dev")
			secSymlink(t, filepath.Join(dev, "console"), filepath.Join(host, "host-marker"))
			secSymlink(t, filepath.Join(dev, "ptmx"), "pts/ptmx")
			if tc.noDevpts {
				pts := filepath.Join(dev, "pts")
				if err := os.MkdirAll(pts, 0o755); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 64; i++ {
					secSymlink(t, filepath.Join(pts, strconv.Itoa(i)), filepath.Join(host, "host-marker"))
				}
				secSymlink(t, filepath.Join(pts, "ptmx"), filepath.Join(host, "host-marker"))
			}
			sock, masters := secConsoleSocket(t)
			pidFile := filepath.Join(b.Dir, "pid")
			r := b.Husk("create", "--bundle", b.Dir, "--console-socket", sock, "--pid-file", pidFile, b.ID)
			if r.Code != 0 {
				t.Logf("refused: %s", r.Stderr)
				check()
				return
			}
			if tc.noDevpts {
				t.Errorf("create succeeded without a devpts for the console")
			}
			master := <-masters
			if master == nil {
				t.Fatal("no pty master received on the console socket")
			}
			defer master.Close()
			n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
			if err != nil {
				t.Fatalf("TIOCGPTN on the received master: %v", err)
			}
			pidB, _ := os.ReadFile(pidFile)
			pid := strings.TrimSpace(string(pidB))
			// The init's stdio and the container's /dev/console, seen from the host, are the
			// pty peer of the master we received.
			var st unix.Stat_t
			for _, p := range []string{"/proc/" + pid + "/fd/0", "/proc/" + pid + "/root/dev/console"} {
				var lst unix.Stat_t
				if err := unix.Lstat(p, &lst); err == nil && lst.Mode&unix.S_IFMT == unix.S_IFLNK && !strings.Contains(p, "/fd/") {
					t.Errorf("%s is still a symlink", p)
					continue
				}
				if err := unix.Stat(p, &st); err != nil {
					t.Errorf("stat %s: %v", p, err)
					continue
				}
				// UNIX98_PTY_SLAVE_MAJOR is 136.
				if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 136 || int(unix.Minor(st.Rdev)) != n {
					t.Errorf("%s: mode %o rdev %d:%d, want the pty peer 136:%d", p, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), n)
				}
			}
			check()
		})
	}
}
