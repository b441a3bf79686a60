package initsync

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pair returns both ends of a sync socket as Conns; the files are closed when t ends.
func pair(t *testing.T) (parent, child *Conn, childFile *os.File) {
	t.Helper()
	p, c, err := Pair()
	if err != nil {
		t.Fatalf("Pair: %v", err)
	}
	t.Cleanup(func() { p.Close(); c.Close() })
	return NewConn(int(p.Fd())), NewConn(int(c.Fd())), c
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func TestPairIsCloexecSeqpacket(t *testing.T) {
	p, c, err := Pair()
	if err != nil {
		t.Fatalf("Pair: %v", err)
	}
	defer p.Close()
	defer c.Close()
	for _, f := range []*os.File{p, c} {
		typ, err := unix.GetsockoptInt(int(f.Fd()), unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil {
			t.Fatalf("%s: SO_TYPE: %v", f.Name(), err)
		}
		if typ != unix.SOCK_SEQPACKET {
			t.Errorf("%s: socket type: got %d, want SOCK_SEQPACKET (%d)", f.Name(), typ, unix.SOCK_SEQPACKET)
		}
		flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
		if err != nil {
			t.Fatalf("%s: F_GETFD: %v", f.Name(), err)
		}
		if flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s: FD_CLOEXEC not set", f.Name())
		}
	}
}

func TestSendRecvRoundTrip(t *testing.T) {
	type payload struct {
		ID   string   `json:"id"`
		Args []string `json:"args"`
	}
	tests := []struct {
		name string
		typ  string
		data any
	}{
		{"no data", MsgReady, nil},
		{"struct", MsgConfig, payload{ID: "c1", Args: []string{"sh", "-c", "echo hi"}}},
		{"string", MsgHooks, "prestart"},
	}
	parent, child, _ := pair(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := parent.Send(tt.typ, tt.data); err != nil {
				t.Fatalf("Send: %v", err)
			}
			m, fds, err := child.Recv()
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			if len(fds) != 0 {
				closeAll(fds)
				t.Errorf("fds: got %v, want none", fds)
			}
			if m.Type != tt.typ {
				t.Errorf("type: got %q, want %q", m.Type, tt.typ)
			}
			if tt.data == nil && len(m.Data) != 0 {
				t.Errorf("data: got %s, want none", m.Data)
			}
		})
	}
}

func TestExpect(t *testing.T) {
	type cfg struct {
		ID  string `json:"id"`
		Pid int    `json:"pid"`
	}
	t.Run("decodes data", func(t *testing.T) {
		parent, child, _ := pair(t)
		want := cfg{ID: "abc", Pid: 42}
		if err := parent.Send(MsgConfig, want); err != nil {
			t.Fatalf("Send: %v", err)
		}
		var got cfg
		if _, err := child.Expect(MsgConfig, &got); err != nil {
			t.Fatalf("Expect: %v", err)
		}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("type mismatch", func(t *testing.T) {
		parent, child, _ := pair(t)
		if err := parent.Send(MsgHooks, nil); err != nil {
			t.Fatalf("Send: %v", err)
		}
		_, err := child.Expect(MsgReady, nil)
		if err == nil {
			t.Fatal("Expect(ready) of a hooks message: got nil error")
		}
		for _, s := range []string{`"hooks"`, `"ready"`} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q: want it to name %s", err, s)
			}
		}
	})
	t.Run("bad data", func(t *testing.T) {
		parent, child, _ := pair(t)
		if err := parent.Send(MsgConfig, "not an object"); err != nil {
			t.Fatalf("Send: %v", err)
		}
		var got cfg
		if _, err := child.Expect(MsgConfig, &got); err == nil {
			t.Error("Expect of a string into a struct: got nil error")
		}
	})
	t.Run("error message", func(t *testing.T) {
		parent, child, _ := pair(t)
		if err := child.SendError(errors.New("mount /proc: permission denied")); err != nil {
			t.Fatalf("SendError: %v", err)
		}
		_, err := parent.Expect(MsgReady, nil)
		var ie *InitError
		if !errors.As(err, &ie) {
			t.Fatalf("Expect after SendError: got %v (%T), want *InitError", err, err)
		}
		if got, want := ie.Error(), "mount /proc: permission denied"; got != want {
			t.Errorf("InitError: got %q, want %q", got, want)
		}
	})
}

func TestRecvInitError(t *testing.T) {
	parent, child, _ := pair(t)
	if err := child.SendError(errors.New("exec: no such file")); err != nil {
		t.Fatalf("SendError: %v", err)
	}
	m, _, err := parent.Recv()
	var ie *InitError
	if !errors.As(err, &ie) || m != nil {
		t.Fatalf("Recv: got (%v, %v), want (nil, *InitError)", m, err)
	}
	if ie.Msg != "exec: no such file" {
		t.Errorf("InitError.Msg: got %q, want %q", ie.Msg, "exec: no such file")
	}
}

func TestRecvUndecodable(t *testing.T) {
	parent, child, _ := pair(t)
	if err := parent.SendRaw([]byte("pid 42")); err != nil {
		t.Fatalf("SendRaw: %v", err)
	}
	if _, _, err := child.Recv(); err == nil {
		t.Error("Recv of a text packet: got nil error")
	}
}

// TestFDPassing checks that fds sent with SCM_RIGHTS arrive as new descriptors of the same
// open files, close-on-exec.
func TestFDPassing(t *testing.T) {
	for _, tt := range []struct {
		name string
		n    int
	}{{"one fd", 1}, {"two fds", 2}, {"four fds", 4}} {
		n := tt.n
		t.Run(tt.name, func(t *testing.T) {
			parent, child, _ := pair(t)
			var sent []int
			var files []*os.File
			for i := 0; i < n; i++ {
				f, err := os.CreateTemp(t.TempDir(), "fd")
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				files = append(files, f)
				sent = append(sent, int(f.Fd()))
			}
			if err := child.Send(MsgConsole, nil, sent...); err != nil {
				t.Fatalf("Send: %v", err)
			}
			m, got, err := parent.Recv()
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			defer closeAll(got)
			if m.Type != MsgConsole {
				t.Errorf("type: got %q, want %q", m.Type, MsgConsole)
			}
			if len(got) != n {
				t.Fatalf("fds: got %d, want %d", len(got), n)
			}
			for i, fd := range got {
				var a, b unix.Stat_t
				if err := unix.Fstat(fd, &a); err != nil {
					t.Fatalf("fstat received fd %d: %v", fd, err)
				}
				if err := unix.Fstat(sent[i], &b); err != nil {
					t.Fatal(err)
				}
				if a.Dev != b.Dev || a.Ino != b.Ino {
					t.Errorf("fd %d: got dev/ino %d/%d, want %d/%d (%s)", i, a.Dev, a.Ino, b.Dev, b.Ino, files[i].Name())
				}
				// Same open file description: a write through one moves the other's offset.
				if _, err := unix.Write(fd, []byte("x")); err != nil {
					t.Fatalf("write received fd: %v", err)
				}
				if off, _ := files[i].Seek(0, 1); off != 1 {
					t.Errorf("fd %d: sender's offset after a write through the received fd: got %d, want 1", i, off)
				}
				fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
				if err != nil || fl&unix.FD_CLOEXEC == 0 {
					t.Errorf("fd %d: received without FD_CLOEXEC (flags %#x, err %v)", i, fl, err)
				}
			}
		})
	}
}

// TestTooManyFDs checks that fds beyond what RecvRaw makes room for are reported, not lost.
func TestTooManyFDs(t *testing.T) {
	parent, child, _ := pair(t)
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sent := make([]int, 8)
	for i := range sent {
		sent[i] = int(f.Fd())
	}
	if err := child.SendRaw([]byte("x"), sent...); err != nil {
		t.Fatalf("SendRaw: %v", err)
	}
	_, got, err := parent.RecvRaw()
	defer closeAll(got)
	if err == nil && len(got) != len(sent) {
		t.Errorf("8 fds sent: got %d fds and no error, want all 8 or an error", len(got))
	}
	// The connection stays usable after a refused packet.
	if err := child.Send(MsgReady, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := parent.Expect(MsgReady, nil); err != nil {
		t.Errorf("Expect after a truncated packet: %v", err)
	}
}

func TestLargeMessage(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{"64KiB", 64 << 10},
		{"300KiB", 300 << 10}, // above the default socket send buffer (net.core.wmem_default)
		{"1MiB", 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, child, _ := pair(t)
			big := strings.Repeat("a", tt.size)
			devnull, err := os.Open("/dev/null")
			if err != nil {
				t.Fatal(err)
			}
			defer devnull.Close()
			// A packet is queued whole or refused, so Send does not wait for the reader.
			if err := parent.Send(MsgConfig, big, int(devnull.Fd())); err != nil {
				t.Fatalf("Send: %v", err)
			}
			var got string
			fds, err := child.Expect(MsgConfig, &got)
			defer closeAll(fds)
			if err != nil {
				t.Fatalf("Expect: %v", err)
			}
			if got != big {
				t.Errorf("data: got %d bytes, want %d", len(got), tt.size)
			}
			// The sender's fd arrives alone: the memfd carrying a large message is not handed on.
			if len(fds) != 1 {
				t.Fatalf("fds: got %d, want 1", len(fds))
			}
			var a, b unix.Stat_t
			if err := unix.Fstat(fds[0], &a); err != nil {
				t.Fatal(err)
			}
			if err := unix.Fstat(int(devnull.Fd()), &b); err != nil {
				t.Fatal(err)
			}
			if a.Rdev != b.Rdev || a.Ino != b.Ino {
				t.Errorf("fd: got rdev/ino %d/%d, want /dev/null's %d/%d", a.Rdev, a.Ino, b.Rdev, b.Ino)
			}
		})
	}
}

func TestErrClosed(t *testing.T) {
	t.Run("peer closed", func(t *testing.T) {
		parent, _, childFile := pair(t)
		childFile.Close()
		if _, _, err := parent.Recv(); !errors.Is(err, ErrClosed) {
			t.Errorf("Recv after the peer closed: got %v, want ErrClosed", err)
		}
	})
	t.Run("queued message first", func(t *testing.T) {
		parent, child, childFile := pair(t)
		if err := child.Send(MsgReady, nil); err != nil {
			t.Fatal(err)
		}
		childFile.Close()
		if _, err := parent.Expect(MsgReady, nil); err != nil {
			t.Errorf("Expect(ready) queued before close: %v", err)
		}
		if _, _, err := parent.Recv(); !errors.Is(err, ErrClosed) {
			t.Errorf("second Recv: got %v, want ErrClosed", err)
		}
	})
	t.Run("send to closed peer", func(t *testing.T) {
		parent, _, childFile := pair(t)
		childFile.Close()
		if err := parent.Send(MsgReady, nil); !errors.Is(err, unix.EPIPE) {
			t.Errorf("Send to a closed peer: got %v, want EPIPE", err)
		}
	})
}

// TestLargeSendKeepsOtherFDs checks that sending a large message does not, later, close an
// fd it no longer owns (a finalizer closing a number that was reused by then).
func TestLargeSendKeepsOtherFDs(t *testing.T) {
	parent, child, _ := pair(t)
	if err := parent.Send(MsgConfig, strings.Repeat("a", 1<<20)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, err := child.Expect(MsgConfig, nil); err != nil {
		t.Fatalf("Expect: %v", err)
	}
	f, err := os.CreateTemp(t.TempDir(), "after")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := 0; i < 5; i++ {
		runtime.GC()
		time.Sleep(time.Millisecond) // finalizers run on their own goroutine
	}
	if _, err := f.Write([]byte("x")); err != nil {
		t.Errorf("write to a file opened after Send: %v", err)
	}
}
