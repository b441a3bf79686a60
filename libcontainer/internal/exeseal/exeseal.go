// Package exeseal gives husk a sealed copy of its own binary to re-execute as `husk init`, so
// that a container process which reaches /proc/<pid>/exe of an init cannot overwrite the husk
// binary on the host (CVE-2019-5736): the copy is a memfd with every write seal set.
package exeseal

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// Open returns a sealed, read-only memfd copy of /proc/self/exe. Exec it through
// "/proc/self/fd/<fd>"; the fd is close-on-exec.
func Open() (*os.File, error) {
	return openPath("/proc/self/exe")
}

// openPath returns a sealed memfd copy of the file at path.
func openPath(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal husk binary: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("husk", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("seal husk binary: %w", os.NewSyscallError("memfd_create", err))
	}
	f := os.NewFile(uintptr(fd), "husk-sealed")
	st, err := src.Stat()
	if err == nil {
		err = copyAll(f, src, st.Size())
	}
	if err == nil {
		_, err = unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("seal husk binary: %w", err)
	}
	return f, nil
}

func copyAll(dst, src *os.File, size int64) error {
	// sendfile between a page-cache file and a memfd stays in the kernel.
	var off int64
	for off < size {
		n, err := unix.Sendfile(int(dst.Fd()), int(src.Fd()), &off, int(size-off))
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			// Fall back to a userspace copy.
			if _, err := dst.Seek(off, io.SeekStart); err != nil {
				return err
			}
			if _, err := src.Seek(off, io.SeekStart); err != nil {
				return err
			}
			_, err = io.Copy(dst, src)
			return err
		}
		if n == 0 {
			break
		}
	}
	return nil
}

// IsSealed reports whether f carries every write seal.
func IsSealed(f *os.File) bool {
	s, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	return err == nil && s&seals == seals
}
