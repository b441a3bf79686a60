package seccomp

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Load installs p on the calling thread with seccomp(2) and returns the
// user-notification listener fd, or -1 when p.Notify is false. It does not
// call libseccomp.
//
// The container init calls Load on its locked OS thread right before
// execve, so that the filter applies to the container process and to as
// few of the init's own syscalls as possible. Unless the thread has
// no_new_privs set (process.noNewPrivileges), the kernel requires
// CAP_SYS_ADMIN, so the init then loads the filter before dropping
// capabilities. With SECCOMP_FILTER_FLAG_TSYNC the filter is applied to all
// threads of the process.
//
// Preconditions: the goroutine is locked to its OS thread
// (runtime.LockOSThread); otherwise the filter lands on a random thread.
func Load(p *Program) (notifyFD int, err error) {
	if p == nil {
		return -1, fmt.Errorf("load seccomp filter: %w: nil program", ErrInvalidProgram)
	}
	if err := p.check(); err != nil {
		return -1, fmt.Errorf("load seccomp filter: %w", err)
	}
	flags := p.Flags
	if p.Notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 {
			flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		}
	}
	prog := unix.SockFprog{Len: uint16(len(p.Filter)), Filter: &p.Filter[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(p)
	if errno != 0 {
		return -1, fmt.Errorf("load seccomp filter (flags %#x): %w", flags, os.NewSyscallError("seccomp", errno))
	}
	if flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
		return int(r), nil
	}
	if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 && r != 0 {
		// seccomp(2): with TSYNC, the ID of the thread that could not
		// be synchronised.
		return -1, fmt.Errorf("load seccomp filter: synchronise thread %d: %w", r, ErrTSync)
	}
	return -1, nil
}
