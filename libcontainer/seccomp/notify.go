package seccomp

import (
	"encoding/json"
	"fmt"
	"net"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SendNotifyFD passes the seccomp listener fd to the agent listening on the
// unix stream socket listenerPath, following the runtime-spec protocol
// (config-linux.md, "The Container Process State"): one connection, the
// container process state as JSON, the fd attached to the first message
// with SCM_RIGHTS, then close. st.Fds is set to ["seccompFd"] and
// st.Version to the spec version when empty; the caller fills Pid, State
// and Metadata (linux.seccomp.listenerMetadata). fd stays open.
func SendNotifyFD(listenerPath string, st *specs.ContainerProcessState, fd int) error {
	msg := *st
	msg.Fds = []string{specs.SeccompFdName}
	if msg.Version == "" {
		msg.Version = specs.Version
	}
	b, err := json.Marshal(&msg)
	if err != nil {
		return fmt.Errorf("send seccomp fd to %s: encode state: %w", listenerPath, err)
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: listenerPath, Net: "unix"})
	if err != nil {
		return fmt.Errorf("send seccomp fd to %s: %w", listenerPath, err)
	}
	// "The connection MUST NOT be reused and it MUST be closed after
	// sending a seccomp state." -OCI spec.
	defer conn.Close()
	n, _, err := conn.WriteMsgUnix(b, unix.UnixRights(fd), nil)
	if err != nil {
		return fmt.Errorf("send seccomp fd to %s: %w", listenerPath, err)
	}
	// "If more than one sendmsg(2) is used, the file descriptors MUST be
	// sent only in the first call." -OCI spec.
	if n < len(b) {
		if _, err := conn.Write(b[n:]); err != nil {
			return fmt.Errorf("send seccomp fd to %s: %w", listenerPath, err)
		}
	}
	if err := conn.Close(); err != nil {
		return fmt.Errorf("send seccomp fd to %s: %w", listenerPath, err)
	}
	return nil
}
