package main

import (
	"unsafe"

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
