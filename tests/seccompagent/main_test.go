package main

import (
	"net"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// pair returns a connected unix stream pair: the agent's end and the
// runtime's end.
func pair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

func TestReceive(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		sendFD  bool
		wantErr string
	}{
		{"state and fd", `{"ociVersion":"1.3.0","fds":["seccompFd"],"pid":7,"metadata":"m","state":{"ociVersion":"1.3.0","id":"c","status":"creating","pid":7}}`, true, ""},
		{"no fd", `{"ociVersion":"1.3.0","fds":["seccompFd"],"pid":7,"state":{}}`, false, "no fd"},
		{"wrong fd name", `{"ociVersion":"1.3.0","fds":["other"],"pid":7,"state":{}}`, true, `want [seccompFd]`},
		{"not JSON", `{`, true, "decode state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agent, runtime := pair(t)
			var oob []byte
			if tt.sendFD {
				oob = unix.UnixRights(int(os.Stdin.Fd()))
			}
			if _, _, err := runtime.WriteMsgUnix([]byte(tt.msg), oob, nil); err != nil {
				t.Fatal(err)
			}
			runtime.Close()
			st, fd, err := receive(agent)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if st.Pid != 7 || st.Metadata != "m" || st.State.ID != "c" {
				t.Errorf("got state %+v", st)
			}
		})
	}
}
