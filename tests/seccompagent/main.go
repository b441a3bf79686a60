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

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

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
