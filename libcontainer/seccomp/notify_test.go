package seccomp

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestSendNotifyFD(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })

	type received struct {
		data []byte
		fds  []int
		err  error
	}
	got := make(chan received, 1)
	go func() {
		var rec received
		defer func() { got <- rec }()
		conn, err := l.AcceptUnix()
		if err != nil {
			rec.err = err
			return
		}
		defer conn.Close()
		buf := make([]byte, 1<<20)
		oob := make([]byte, unix.CmsgSpace(4*4))
		for {
			n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			rec.data = append(rec.data, buf[:n]...)
			if oobn > 0 {
				msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
				for _, m := range msgs {
					fds, _ := unix.ParseUnixRights(&m)
					rec.fds = append(rec.fds, fds...)
				}
			}
			if errors.Is(err, io.EOF) || (err == nil && n == 0) {
				return
			}
			if err != nil {
				rec.err = err
				return
			}
		}
	}()

	// Large metadata: the state may not fit in one sendmsg.
	meta := strings.Repeat("m", 300<<10)
	st := &specs.ContainerProcessState{Pid: 42, Metadata: meta,
		State: specs.State{Version: specs.Version, ID: "c1", Status: specs.StateCreating, Pid: 42, Bundle: "/b"}}
	if err := SendNotifyFD(sock, st, int(w.Fd())); err != nil {
		t.Fatal(err)
	}
	rec := <-got
	if rec.err != nil {
		t.Fatal(rec.err)
	}
	var gotSt specs.ContainerProcessState
	if err := json.Unmarshal(rec.data, &gotSt); err != nil {
		t.Fatalf("agent got %d bytes that are not one JSON state: %v", len(rec.data), err)
	}
	if gotSt.Version != specs.Version || len(gotSt.Fds) != 1 || gotSt.Fds[0] != "seccompFd" ||
		gotSt.Pid != 42 || gotSt.Metadata != meta || gotSt.State.ID != "c1" {
		gotSt.Metadata = gotSt.Metadata[:min(len(gotSt.Metadata), 10)] + "..."
		t.Errorf("agent got state %+v", gotSt)
	}
	if len(rec.fds) != 1 {
		t.Fatalf("agent got %d fds, want 1", len(rec.fds))
	}
	// The passed fd is the pipe's write end.
	passed := os.NewFile(uintptr(rec.fds[0]), "passed")
	defer passed.Close()
	if _, err := passed.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := r.Read(b); err != nil || b[0] != 'x' {
		t.Errorf("read through the passed fd: %q, %v", b, err)
	}
	if st.Fds != nil || st.Version != "" {
		t.Error("SendNotifyFD modified the caller's state")
	}
}

func TestSendNotifyFDNoListener(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "missing.sock")
	err := SendNotifyFD(sock, &specs.ContainerProcessState{}, 0)
	if err == nil || !strings.Contains(err.Error(), sock) {
		t.Errorf("got %v, want an error naming %s", err, sock)
	}
}
