package libcontainer

import (
	"bytes"
	"strconv"

	"golang.org/x/sys/unix"
)

// openSelfMaps opens /proc/self/maps while the host's /proc is still reachable (the container
// may not mount one); dropIdleText reads it later.
func openSelfMaps() int {
	fd, err := unix.Open("/proc/self/maps", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// dropIdleText unmaps, from this process's page tables only, the executable file-backed pages
// of the husk binary before the init blocks until `husk start`. The pages
// stay in the page cache, shared with every other husk process; they fault back in, cheaply,
// when the init resumes. Writable mappings (data, bss, heap, stacks) are never touched:
// MADV_DONTNEED would reset them.
func dropIdleText(mapsFD int) {
	if mapsFD < 0 {
		return
	}
	buf := make([]byte, 16<<10)
	n, err := unix.Pread(mapsFD, buf, 0)
	if err != nil || n <= 0 {
		return
	}
	for _, line := range bytes.Split(buf[:n], []byte("\n")) {
		// "start-end perms offset dev inode path"
		f := bytes.Fields(line)
		if len(f) < 6 || string(f[4]) == "0" {
			continue // anonymous, vdso, vvar: not from a file
		}
		// Executable mappings only: a read-only data mapping may hold pages the loader wrote
		// before making it read-only (glibc's RELRO: resolved ifunc pointers); dropping those
		// would bring back the unrelocated file contents.
		if perms := f[1]; len(perms) < 4 || perms[1] == 'w' || perms[2] != 'x' || perms[3] != 'p' {
			continue
		}
		lo, hi, ok := bytes.Cut(f[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// MADV_RANDOM turns off fault-around, which would map 16 neighbouring pages at each
		// later fault and bring most of the text back.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_RANDOM)
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
}
