package exeseal

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenReadonly returns a handle of this binary on a private, detached, read-only bind mount
// (open_tree(2) OPEN_TREE_CLONE + mount_setattr(2) MOUNT_ATTR_RDONLY). Exec'd through
// "/proc/self/fd/<fd>", the process's /proc/<pid>/exe then lives on that mount, so reopening it
// for writing fails with EROFS (CVE-2019-5736), and nothing is copied: it costs about 25 µs
// where a sealed memfd copy of a 9 MiB binary costs about 5 ms. The mount is in no mount
// namespace; it goes away with the last process executing from it.
//
// On kernels without the new mount API it falls back to Open's sealed copy.
func OpenReadonly() (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return Open()
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("seal husk binary: %w", os.NewSyscallError("mount_setattr", err))
	}
	return os.NewFile(uintptr(fd), "husk-readonly"), nil
}

// IsReadonly reports whether f is on a read-only mount.
func IsReadonly(f *os.File) bool {
	var st unix.Statfs_t
	return unix.Fstatfs(int(f.Fd()), &st) == nil && st.Flags&unix.ST_RDONLY != 0
}
