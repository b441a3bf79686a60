package criu

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/timerslack"
)

// ErrNotFound means the criu binary is not installed (or not where --criu says).
var ErrNotFound = errors.New("criu not found")

// Find resolves the criu binary named by --criu.
func Find(path string) (string, error) {
	p, err := exec.LookPath(path)
	if err != nil {
		return "", fmt.Errorf("--criu %q: %w: install it (apt-get install criu) or point --criu at it: %w", path, ErrNotFound, err)
	}
	return p, nil
}

// Request is one call of `criu swrk`.
type Request struct {
	Type ReqType
	Opts *Opts
	// Files are inherited by criu; Opts names them by FD(i) where criu opens them itself
	// (inherit_fd). Options it opens through /proc/<caller>/fd (images_dir_fd,
	// work_dir_fd, status_fd) take the caller's own fd numbers.
	Files []*os.File
	// Started, when set, runs once criu is running and before it gets the request (the
	// restore puts criu in the container's cgroups, so what it restores is born there).
	Started func(pid int) error
	// Notify, when set, is called at each action script ("pre-dump", "post-restore" ...),
	// with the fds that came with it (the caller owns them); an error aborts the request.
	// Without it, action scripts are not asked for.
	Notify func(n *Notify, fds []int) error
	// Stderr receives criu's own output (its log goes to Opts.LogFile in the work dir).
	Stderr io.Writer
}

// FD is the number criu sees the i-th of Request.Files as (the RPC socket is fd 3).
func FD(i int) int32 { return int32(4 + i) }

// Do runs r and returns criu's final answer. A refusal comes back as an error holding
// criu's message and errno.
func Do(criuPath string, r *Request) (_ *Resp, retErr error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "criu-rpc"), os.NewFile(uintptr(fds[1]), "criu-rpc-peer")
	defer ours.Close()
	cmd := &exec.Cmd{
		Path:       criuPath,
		Args:       []string{criuPath, "swrk", "3"},
		ExtraFiles: append([]*os.File{theirs}, r.Files...),
		Stderr:     r.Stderr,
	}
	err = timerslack.Fork(cmd.Start)
	theirs.Close()
	if err != nil {
		return nil, fmt.Errorf("start criu: %w", err)
	}
	defer func() {
		// criu serves requests until its socket reaches end of file.
		_ = unix.Shutdown(int(ours.Fd()), unix.SHUT_WR)
		werr := cmd.Wait()
		// After a pre-dump criu waits for the dump that should follow on the same
		// socket; husk's pre-dump is a command of its own, so criu's exit is no verdict.
		if retErr == nil && werr != nil && r.Type != ReqPreDump {
			retErr = fmt.Errorf("criu: %w", werr)
		}
	}()
	if r.Started != nil {
		if err := r.Started(cmd.Process.Pid); err != nil {
			_ = cmd.Process.Kill()
			return nil, err
		}
	}
	opts := r.Opts
	if r.Notify != nil {
		opts.NotifyScripts = Bool(true)
	}
	typ := r.Type
	req := &Req{Type: typ, Opts: opts}
	for {
		resp, rfds, err := roundTrip(ours, req)
		if err != nil {
			return nil, err
		}
		if !resp.Success {
			closeAll(rfds)
			msg := resp.CrErrmsg
			if msg == "" {
				msg = "failed"
			}
			if e := resp.CrErrno; e != 0 {
				return resp, fmt.Errorf("criu %s: %s: %w", strings.ToLower(typ.String()), msg, unix.Errno(e))
			}
			return resp, fmt.Errorf("criu %s: %s", strings.ToLower(typ.String()), msg)
		}
		if resp.Type != ReqNotify || resp.Notify == nil {
			closeAll(rfds)
			if resp.Type != typ {
				return resp, fmt.Errorf("criu %s: answered with %s", strings.ToLower(typ.String()), resp.Type)
			}
			return resp, nil
		}
		if r.Notify == nil {
			closeAll(rfds)
			return resp, fmt.Errorf("criu %s: unexpected notification %q", strings.ToLower(typ.String()), resp.Notify.Script)
		}
		if err := r.Notify(resp.Notify, rfds); err != nil {
			return resp, fmt.Errorf("criu %s: action %q: %w", strings.ToLower(typ.String()), resp.Notify.Script, err)
		}
		req = &Req{Type: ReqNotify, NotifySuccess: Bool(true)}
	}
}

// roundTrip sends req and reads one answer, with any fds attached to it.
func roundTrip(sock *os.File, req *Req) (*Resp, []int, error) {
	b := req.Marshal()
	fd := int(sock.Fd())
	if err := unix.Sendmsg(fd, b, nil, nil, 0); err != nil {
		return nil, nil, fmt.Errorf("send criu request: %w", os.NewSyscallError("sendmsg", err))
	}
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*8))
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read criu answer: %w", os.NewSyscallError("recvmsg", err))
	}
	if n == 0 {
		return nil, nil, errors.New("criu exited without an answer (see its log)")
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for i := range msgs {
				if r, err := unix.ParseUnixRights(&msgs[i]); err == nil {
					fds = append(fds, r...)
				}
			}
		}
	}
	resp := &Resp{}
	if err := resp.Unmarshal(buf[:n]); err != nil {
		closeAll(fds)
		return nil, nil, fmt.Errorf("decode criu answer: %w", err)
	}
	return resp, fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// ConfigAnnotation names a CRIU configuration file for the container's checkpoint and
// restore; an empty value uses none, not even the default.
const ConfigAnnotation = "org.criu.config"

// DefaultConfigFile is the CRIU configuration file used when the annotation is absent and
// the file exists.
const DefaultConfigFile = "/etc/criu/husk.conf"

// ConfigFile returns the CRIU configuration file for a container with annotations ("" for
// none).
func ConfigFile(annotations map[string]string) string {
	if p, ok := annotations[ConfigAnnotation]; ok {
		return p
	}
	if _, err := os.Stat(DefaultConfigFile); err == nil {
		return DefaultConfigFile
	}
	return ""
}

// CgroupMode parses --manage-cgroups-mode ("" is soft, criu's own default).
func CgroupMode(s string) (CgMode, error) {
	switch s {
	case "", "soft":
		return CgSoft, nil
	case "full":
		return CgFull, nil
	case "strict":
		return CgStrict, nil
	case "ignore":
		return CgIgnore, nil
	}
	return 0, fmt.Errorf("--manage-cgroups-mode %q: must be soft, full, strict or ignore", s)
}

// EmptyNSFlags parses --empty-ns: namespaces criu creates without restoring their
// contents (the caller sets them up, e.g. the network through a hook).
func EmptyNSFlags(names []string) (uint32, error) {
	var flags uint32
	for _, n := range names {
		switch n {
		case "network", "net":
			flags |= unix.CLONE_NEWNET
		default:
			return 0, fmt.Errorf("--empty-ns %q: only network is supported", n)
		}
	}
	return flags, nil
}

// PageServer parses --page-server "address:port".
func PageServer(s string) (*PageServerInfo, error) {
	i := strings.LastIndex(s, ":")
	if i <= 0 {
		return nil, fmt.Errorf("--page-server %q: want address:port", s)
	}
	port, err := strconv.ParseUint(s[i+1:], 10, 16)
	if err != nil {
		return nil, fmt.Errorf("--page-server %q: port: %w", s, err)
	}
	return &PageServerInfo{Address: String(strings.Trim(s[:i], "[]")), Port: Int32(int32(port))}, nil
}
