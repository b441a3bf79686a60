package userns

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/internal/procfs"
)

// FormatMap renders mappings as uid_map/gid_map lines ("container host size").
func FormatMap(m []specs.LinuxIDMapping) string {
	var sb strings.Builder
	for _, e := range m {
		fmt.Fprintf(&sb, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
	}
	return sb.String()
}

// NewFD returns a read-only handle of a new user namespace with uid mapping uids and gid
// mapping gids. The process created to own the namespace is gone when NewFD returns: the
// handle alone keeps the namespace alive.
func NewFD(uids, gids []specs.LinuxIDMapping) (_ *os.File, retErr error) {
	if len(uids) == 0 || len(gids) == 0 {
		return nil, errors.New("a user namespace for an ID mapping needs both uid and gid mappings")
	}
	pid, err := forkIdle()
	if err != nil {
		return nil, fmt.Errorf("new user namespace: %w", os.NewSyscallError("clone", err))
	}
	defer func() {
		_ = unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != unix.EINTR {
				break
			}
		}
	}()
	base := strconv.Itoa(pid) + "/"
	// Written by root of the parent namespace, gid_map needs no "deny" in setgroups first.
	if err := procfs.WriteFile(base+"uid_map", []byte(FormatMap(uids))); err != nil {
		return nil, fmt.Errorf("uid mapping: %w", err)
	}
	if err := procfs.WriteFile(base+"gid_map", []byte(FormatMap(gids))); err != nil {
		return nil, fmt.Errorf("gid mapping: %w", err)
	}
	p := "/proc/" + base + "ns/user"
	f, err := os.OpenFile(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("new user namespace: %w", err)
	}
	return f, nil
}

// forkIdle forks a child into a new user namespace that only waits to be killed.
//
// The child is a copy of one thread of a Go program, so it must make raw system calls and
// nothing else (no allocation, no stack growth, no scheduling), as the standard library's
// forkAndExecInChild: this function and RawSyscall6 are nosplit, and the child loops in
// ppoll(NULL, 0, NULL, NULL), which blocks until a signal, on every architecture.
//
//go:norace
//go:nosplit
func forkIdle() (int, error) {
	pid, _, errno := unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.CLONE_NEWUSER|unix.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 {
		return -1, errno
	}
	if pid == 0 {
		for {
			unix.RawSyscall6(unix.SYS_PPOLL, 0, 0, 0, 0, 0, 0)
		}
	}
	return int(pid), nil
}
