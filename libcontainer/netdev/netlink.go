package netdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// conn is an rtnetlink socket bound to the network namespace it was opened in.
type conn struct {
	fd  int
	seq uint32
}

// dial opens an rtnetlink socket in the calling thread's network namespace.
func dial() (*conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, os.NewSyscallError("socket netlink", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind netlink", err)
	}
	return &conn{fd: fd}, nil
}

// dialIn opens an rtnetlink socket in the network namespace at nsPath. A socket stays in
// the namespace it was created in, so only its creation needs the thread to be there.
func dialIn(nsPath string) (*conn, error) {
	target, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: nsPath, Err: err}
	}
	defer unix.Close(target)
	runtime.LockOSThread()
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, &os.PathError{Op: "open", Path: "/proc/thread-self/ns/net", Err: err}
	}
	defer unix.Close(self)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, &os.PathError{Op: "setns", Path: nsPath, Err: err}
	}
	c, dialErr := dial()
	if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so the runtime ends it with this goroutine instead of
		// reusing a thread in the container's namespace.
		if c != nil {
			c.close()
		}
		return nil, os.NewSyscallError("setns back to the host network namespace", err)
	}
	runtime.UnlockOSThread()
	return c, dialErr
}

func (c *conn) close() { unix.Close(c.fd) }

// attr is one rtnetlink attribute.
type attr struct {
	typ  uint16
	data []byte
}

func align4(n int) int { return (n + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1) }

// encode builds a netlink message: header, fixed body, attributes.
func encode(typ, flags uint16, seq uint32, body []byte, attrs []attr) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, 256)
	b = append(b, body...)
	for _, a := range attrs {
		var h [unix.SizeofRtAttr]byte
		binary.NativeEndian.PutUint16(h[0:], uint16(unix.SizeofRtAttr+len(a.data)))
		binary.NativeEndian.PutUint16(h[2:], a.typ)
		b = append(b, h[:]...)
		b = append(b, a.data...)
		for len(b)%unix.NLA_ALIGNTO != 0 {
			b = append(b, 0)
		}
	}
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	return b
}

// do sends one request and collects the payloads of the replies until the kernel's
// acknowledgement (NLM_F_ACK) or the end of a dump (NLM_F_DUMP). A negative error in the
// acknowledgement comes back as its errno.
func (c *conn) do(typ, flags uint16, body []byte, attrs ...attr) ([]syscall.NetlinkMessage, error) {
	c.seq++
	seq := c.seq
	if err := unix.Sendto(c.fd, encode(typ, flags|unix.NLM_F_REQUEST, seq, body, attrs), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, os.NewSyscallError("sendto netlink", err)
	}
	var out []syscall.NetlinkMessage
	for {
		// A fresh buffer per packet: the messages kept in out point into it.
		buf := make([]byte, 64<<10)
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, os.NewSyscallError("recvfrom netlink", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("parse netlink reply: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return nil, errors.New("short netlink error message")
				}
				if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
					return nil, unix.Errno(-e)
				}
				return out, nil
			default:
				out = append(out, m)
			}
		}
	}
}

// ifInfo is the fixed part of RTM_*LINK messages (struct ifinfomsg).
func ifInfo(index int32, flags, change uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint32(b[8:], flags)
	binary.NativeEndian.PutUint32(b[12:], change)
	return b
}

func u32(v uint32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return b
}

func cstring(s string) []byte { return append([]byte(s), 0) }

// link is what the package needs of an interface.
type link struct {
	index int32
	name  string
	mac   []byte
}

// parseLinkData decodes the payload of an RTM_NEWLINK message.
func parseLinkData(b []byte) (*link, error) {
	if len(b) < unix.SizeofIfInfomsg {
		return nil, errors.New("short RTM_NEWLINK message")
	}
	l := &link{index: int32(binary.NativeEndian.Uint32(b[4:]))}
	for _, a := range parseAttrs(b[unix.SizeofIfInfomsg:]) {
		switch a.typ {
		case unix.IFLA_IFNAME:
			l.name = string(trimNul(a.data))
		case unix.IFLA_ADDRESS:
			l.mac = append([]byte(nil), a.data...)
		}
	}
	return l, nil
}

// parseAttrs splits the top-level attributes of b. It stops at a malformed one rather than
// failing: only a few leading attributes are needed, and newer kernels add ones whose
// layout an older parser misjudges.
func parseAttrs(b []byte) []attr {
	var out []attr
	for len(b) >= unix.SizeofRtAttr {
		n := int(binary.NativeEndian.Uint16(b[0:]))
		if n < unix.SizeofRtAttr || n > len(b) {
			break
		}
		typ := binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		out = append(out, attr{typ, b[unix.SizeofRtAttr:n]})
		if align4(n) >= len(b) {
			break
		}
		b = b[align4(n):]
	}
	return out
}

func trimNul(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// linkByName looks an interface up by name (ENODEV when there is none).
func (c *conn) linkByName(name string) (*link, error) {
	msgs, err := c.do(unix.RTM_GETLINK, unix.NLM_F_ACK, ifInfo(0, 0, 0), attr{unix.IFLA_IFNAME, cstring(name)})
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if m.Header.Type == unix.RTM_NEWLINK {
			return parseLinkData(m.Data)
		}
	}
	return nil, unix.ENODEV
}

// links lists every interface of the socket's namespace.
func (c *conn) links() ([]*link, error) {
	msgs, err := c.do(unix.RTM_GETLINK, unix.NLM_F_DUMP, ifInfo(0, 0, 0))
	if err != nil {
		return nil, err
	}
	var out []*link
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK {
			continue
		}
		l, err := parseLinkData(m.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// address is one interface address as RTM_NEWADDR carries it.
type address struct {
	family, prefixLen, scope uint8
	flags                    uint32 // IFA_FLAGS when present, else ifa_flags
	attrs                    []attr // IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST
}

// addresses lists the addresses of interface index.
func (c *conn) addresses(index int32) ([]address, error) {
	body := make([]byte, unix.SizeofIfAddrmsg)
	msgs, err := c.do(unix.RTM_GETADDR, unix.NLM_F_DUMP, body)
	if err != nil {
		return nil, err
	}
	var out []address
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			continue
		}
		if int32(binary.NativeEndian.Uint32(m.Data[4:])) != index {
			continue
		}
		a := address{family: m.Data[0], prefixLen: m.Data[1], flags: uint32(m.Data[2]), scope: m.Data[3]}
		for _, ra := range parseAttrs(m.Data[unix.SizeofIfAddrmsg:]) {
			switch ra.typ {
			case unix.IFA_ADDRESS, unix.IFA_LOCAL, unix.IFA_BROADCAST:
				a.attrs = append(a.attrs, attr{ra.typ, append([]byte(nil), ra.data...)})
			case unix.IFA_FLAGS:
				if len(ra.data) >= 4 {
					a.flags = binary.NativeEndian.Uint32(ra.data)
				}
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// addAddress adds a to interface index.
func (c *conn) addAddress(index int32, a address) error {
	body := make([]byte, unix.SizeofIfAddrmsg)
	body[0], body[1], body[2], body[3] = a.family, a.prefixLen, uint8(a.flags), a.scope
	binary.NativeEndian.PutUint32(body[4:], uint32(index))
	attrs := append(a.attrs[:len(a.attrs):len(a.attrs)], attr{unix.IFA_FLAGS, u32(a.flags)})
	_, err := c.do(unix.RTM_NEWADDR, unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL, body, attrs...)
	return err
}
