package libcontainer

import (
	"bytes"
	"runtime"
	"runtime/debug"
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

// dropIdleText unmaps, from this process's page tables only, the read-only file-backed pages
// of the husk binary (text and rodata) before the init blocks until `husk start`. The pages
// stay in the page cache, shared with every other husk process; they fault back in, cheaply,
// when the init resumes. A created container then holds about 2 MB of its own memory instead
// of ~12 MB of resident mappings. Writable mappings (data, bss, heap, stacks) are never
// touched: MADV_DONTNEED would reset them.
func dropIdleText(mapsFD int) {
	if mapsFD < 0 {
		return
	}
	// A collection walks stacks and type data all over rodata: do it now, then not again
	// while idle (the init allocates next to nothing before execve).
	runtime.GC()
	debug.SetGCPercent(-1)
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
		if perms := f[1]; len(perms) < 4 || perms[1] == 'w' || perms[3] != 'p' {
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
