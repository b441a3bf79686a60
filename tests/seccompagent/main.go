package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// notif mirrors struct seccomp_notif (include/uapi/linux/seccomp.h).
type notif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

// notifResp mirrors struct seccomp_notif_resp.
type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// event is one line of the agent's output.
type event struct {
	Event string                       `json:"event"`
	State *specs.ContainerProcessState `json:"state,omitempty"`
	Pid   uint32                       `json:"pid,omitempty"`
	Nr    int32                        `json:"nr,omitempty"`
	Error string                       `json:"error,omitempty"`
}

// printer writes events as JSON lines from many goroutines.
type printer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (p *printer) print(e event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(e)
}

func main() {
	socket := flag.String("socket", "", "unix socket to listen on")
	errno := flag.Int("errno", 0, "errno for notified syscalls (0: succeed with 0)")
	flag.Parse()
	if *socket == "" {
		fmt.Fprintln(os.Stderr, "seccompagent: -socket is required")
		os.Exit(2)
	}
	out := &printer{enc: json.NewEncoder(os.Stdout)}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: *socket, Net: "unix"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "seccompagent:", err)
		os.Exit(1)
	}
	out.print(event{Event: "ready"})
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			fmt.Fprintln(os.Stderr, "seccompagent:", err)
			os.Exit(1)
		}
		go func() {
			st, fd, err := receive(conn)
			if err != nil {
				out.print(event{Event: "error", Error: err.Error()})
				return
			}
			out.print(event{Event: "state", State: st})
			serve(fd, *errno, out)
		}()
	}
}

// receive reads one container process state and its seccompFd.
func receive(conn *net.UnixConn) (*specs.ContainerProcessState, int, error) {
	defer conn.Close()
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*4))
	var data []byte
	fd := -1
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if n > 0 {
			data = append(data, buf[:n]...)
		}
		if oobn > 0 {
			fds, err := parseRights(oob[:oobn])
			if err != nil {
				return nil, -1, err
			}
			if len(fds) != 1 || fd >= 0 {
				return nil, -1, fmt.Errorf("receive state: got %d fds, want exactly one", len(fds))
			}
			fd = fds[0]
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			break
		}
		if err != nil {
			return nil, -1, fmt.Errorf("receive state: %w", err)
		}
	}
	var st specs.ContainerProcessState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, -1, fmt.Errorf("decode state: %w", err)
	}
	if fd < 0 {
		return nil, -1, errors.New("receive state: no fd")
	}
	if len(st.Fds) != 1 || st.Fds[0] != "seccompFd" {
		return nil, -1, fmt.Errorf("receive state: fds are %q, want [seccompFd]", st.Fds)
	}
	return &st, fd, nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		f, err := unix.ParseUnixRights(&m)
		if err != nil {
			return nil, fmt.Errorf("parse SCM_RIGHTS: %w", err)
		}
		fds = append(fds, f...)
	}
	return fds, nil
}

// serve answers notifications on fd until the filter has no users left.
func serve(fd, errno int, out *printer) {
	defer unix.Close(fd)
	for {
		var n notif
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n)))
		switch e {
		case 0:
		case unix.EINTR:
			continue
		default:
			// ENOENT: every process using the filter has exited.
			return
		}
		out.print(event{Event: "notify", Pid: n.Pid, Nr: n.Nr})
		r := notifResp{ID: n.ID, Error: -int32(errno)}
		_, _, e = unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&r)))
		if e != 0 && e != unix.ENOENT {
			out.print(event{Event: "error", Error: "respond: " + e.Error()})
		}
	}
}
