// Package initsync is the protocol between a husk parent (create, run, exec) and the `husk init`
// it starts. Both ends share one AF_UNIX SOCK_SEQPACKET socket pair, so every message is one
// packet and file descriptors ride along with SCM_RIGHTS.
//
// Bootstrap phase (text packets, handled by the C constructor in libcontainer/nsenter):
//
//	parent                                 init (C, single-threaded)
//	  bootstrap lines ------------------->   join cgroup, setns, unshare
//	                  <-------------------   "usermap"        (new user namespace only)
//	  write uid_map/gid_map, "ok" ------->
//	                  <-------------------   "pid <n>"  or  "error <text>"
//	  [move linux.netDevices into /proc/<n>/ns/net]   (the init waits for MsgConfig)
//
// Go phase (JSON packets, Msg):
//
//	MsgConfig (InitConfig) ------------>   rootfs, mounts, console ...
//	  + idmapped mount trees (open_tree fds, one per IDMapMounts entry), moved into place
//	                <-------------------   MsgConsole + pty master fd   (terminal only)
//	                <-------------------   MsgHooks  (prestart/createRuntime time)
//	MsgHooksDone ---------------------->
//	                <-------------------   MsgSeccompFd + notify fd     (listenerPath only)
//	MsgSeccompDone -------------------->
//	                <-------------------   MsgReady  or  MsgError
//
// After MsgReady the parent closes its end; a create'd init then blocks opening exec.fifo
// until `husk start`, an exec'd process goes straight on to execve.
package initsync

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/spec/quickjson"
)

// Message types of the Go phase.
const (
	MsgConfig      = "config"
	MsgConsole     = "console"
	MsgHooks       = "hooks"
	MsgHooksDone   = "hooksDone"
	MsgSeccompFd   = "seccompFd"
	MsgSeccompDone = "seccompDone"
	MsgReady       = "ready"
	MsgError       = "error"
)

// Msg is one Go-phase packet.
type Msg struct {
	Type  string          `json:"type"`
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
	// Spilled means the whole message is in a memfd, the packet's last fd (see maxPacket).
	Spilled bool `json:"spilled,omitempty"`
}

// maxPacket is the largest Go-phase message sent as the packet itself. A SOCK_SEQPACKET
// packet must fit the sender's socket buffer (sendmsg fails with EMSGSIZE beyond
// net.core.wmem_default, 208 KiB by default) and is mostly one contiguous kernel allocation,
// so a larger message (a config with big annotations or seccomp filters) travels in a memfd.
const maxPacket = 64 << 10

// Pair returns a connected SOCK_SEQPACKET pair, both ends close-on-exec.
func Pair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

// Conn is one end of the sync socket.
type Conn struct {
	fd  int
	buf []byte
}

// NewConn wraps a sync socket fd.
func NewConn(fd int) *Conn { return &Conn{fd: fd} }

// SendRaw sends one packet, with fds attached when given.
func (c *Conn) SendRaw(b []byte, fds ...int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	for {
		err := unix.Sendmsg(c.fd, b, oob, nil, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("sendmsg", err)
		}
		return nil
	}
}

// RecvRaw receives one packet and any fds attached to it. io.EOF-like closure of the peer
// returns ErrClosed.
func (c *Conn) RecvRaw() ([]byte, []int, error) {
	// Peek the packet's size first so that a large config is never truncated.
	for {
		n, _, err := unix.Recvfrom(c.fd, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, nil, os.NewSyscallError("recvfrom", err)
		}
		if n == 0 {
			// Either an empty packet or an orderly shutdown; recvmsg below tells.
			n = 1
		}
		if cap(c.buf) < n {
			c.buf = make([]byte, n)
		}
		break
	}
	buf := c.buf[:cap(c.buf)]
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, flags, _, err := unix.Recvmsg(c.fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, nil, os.NewSyscallError("recvmsg", err)
		}
		if n == 0 && oobn == 0 {
			return nil, nil, ErrClosed
		}
		var fds []int
		if oobn > 0 {
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return nil, nil, os.NewSyscallError("parse control message", err)
			}
			for _, m := range msgs {
				r, err := unix.ParseUnixRights(&m)
				if err == nil {
					fds = append(fds, r...)
				}
			}
		}
		if flags&(unix.MSG_CTRUNC|unix.MSG_TRUNC) != 0 {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, nil, fmt.Errorf("recvmsg: packet of %d bytes, %d control bytes truncated (flags %#x)", n, oobn, flags)
		}
		out := make([]byte, n)
		copy(out, buf[:n])
		return out, fds, nil
	}
}

// ErrClosed means the peer closed its end (usually: it exited).
var ErrClosed = errors.New("sync socket closed by peer")

// Send sends a Go-phase message; v (may be nil) becomes its Data.
func (c *Conn) Send(typ string, v any, fds ...int) error {
	m := Msg{Type: typ}
	if v != nil {
		d, err := quickjson.Marshal(v) // the init's config holds the whole spec
		if err != nil {
			return fmt.Errorf("encode %s message: %w", typ, err)
		}
		m.Data = d
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", typ, err)
	}
	if len(b) <= maxPacket {
		return c.SendRaw(b, fds...)
	}
	mfd, err := unix.MemfdCreate("husk-sync", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("send %s message: %w", typ, os.NewSyscallError("memfd_create", err))
	}
	f := os.NewFile(uintptr(mfd), "husk-sync")
	defer f.Close() // not unix.Close: f's finalizer would close the fd number again, reused by then
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("send %s message: %w", typ, err)
	}
	b, _ = json.Marshal(Msg{Type: typ, Spilled: true})
	return c.SendRaw(b, append(fds[:len(fds):len(fds)], mfd)...)
}

// unspill reads a message sent in a memfd (the last of fds) and closes that fd.
func unspill(fds []int) ([]byte, []int, error) {
	if len(fds) == 0 {
		return nil, nil, errors.New("decode sync message: spilled message without its memfd")
	}
	mfd := fds[len(fds)-1]
	fds = fds[:len(fds)-1]
	f := os.NewFile(uintptr(mfd), "husk-sync")
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fds, fmt.Errorf("decode sync message: %w", err)
	}
	b := make([]byte, st.Size())
	// The memfd's file offset is shared with the sender, which left it at the end.
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fds, fmt.Errorf("decode sync message: %w", err)
	}
	return b, fds, nil
}

// SendError reports err to the parent.
func (c *Conn) SendError(err error) error {
	b, _ := json.Marshal(Msg{Type: MsgError, Error: err.Error()})
	return c.SendRaw(b)
}

// Recv receives a Go-phase message. A MsgError from the peer comes back as an error.
func (c *Conn) Recv() (*Msg, []int, error) {
	b, fds, err := c.RecvRaw()
	if err != nil {
		return nil, nil, err
	}
	var m Msg
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, fmt.Errorf("decode sync message %.40q: %w", b, err)
	}
	if m.Spilled {
		if b, fds, err = unspill(fds); err != nil {
			return nil, fds, err
		}
		m = Msg{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fds, fmt.Errorf("decode sync message %.40q: %w", b, err)
		}
	}
	if m.Type == MsgError {
		return nil, fds, &InitError{Msg: m.Error}
	}
	return &m, fds, nil
}

// Expect receives a message of type typ and decodes its Data into v (when non-nil).
func (c *Conn) Expect(typ string, v any) ([]int, error) {
	m, fds, err := c.Recv()
	if err != nil {
		return fds, err
	}
	if m.Type != typ {
		return fds, fmt.Errorf("sync: got %q message, want %q", m.Type, typ)
	}
	if v != nil {
		if err := quickjson.Unmarshal(m.Data, v); err != nil {
			return fds, fmt.Errorf("decode %s message: %w", typ, err)
		}
	}
	return fds, nil
}

// InitError is an error reported by the init process from inside the container.
type InitError struct{ Msg string }

func (e *InitError) Error() string { return e.Msg }
