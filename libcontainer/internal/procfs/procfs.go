package procfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrNotSupported is returned (wrapped) when the kernel lacks openat2(2),
// which safe resolution needs (Linux 5.6).
var ErrNotSupported = errors.New("not supported")

// ErrNotProcfs is returned (wrapped) when a file that must live on procfs
// does not, or when the procfs root is not the root of a procfs.
var ErrNotProcfs = errors.New("not on procfs")

// procRootIno is PROC_ROOT_INO from the kernel's fs/proc/internal.h.
const procRootIno = 1

// source says where a Handle's root directory came from.
type source int

const (
	// sourceFsopen is a fresh procfs instance: no overmounts exist in it.
	sourceFsopen source = iota
	// sourceOpenTree is a non-recursive clone of the /proc mount.
	sourceOpenTree
	// sourcePlain is /proc opened directly.
	sourcePlain
)

func (s source) String() string {
	switch s {
	case sourceFsopen:
		return "fsopen"
	case sourceOpenTree:
		return "open_tree"
	case sourcePlain:
		return "plain"
	}
	return "source(" + strconv.Itoa(int(s)) + ")"
}

// Handle is an open, verified procfs root. It is safe for concurrent use.
// Handles are not inherited across execve (O_CLOEXEC).
type Handle struct {
	root *os.File
	src  source
}

// Open returns a verified procfs root, preferring a private procfs instance,
// then a non-recursive clone of /proc, then /proc itself.
func Open() (*Handle, error) {
	var errs []error
	for _, src := range []source{sourceFsopen, sourceOpenTree, sourcePlain} {
		h, err := openSource(src)
		if err == nil {
			return h, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("open procfs root: %w", errors.Join(errs...))
}

// openSource opens and verifies a procfs root from src.
func openSource(src source) (*Handle, error) {
	var (
		fd  int
		err error
		op  string
	)
	switch src {
	case sourceFsopen:
		op = "fsopen proc"
		fd, err = openFsopen()
	case sourceOpenTree:
		op = "open_tree /proc"
		fd, err = unix.OpenTree(unix.AT_FDCWD, "/proc",
			unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_SYMLINK_NOFOLLOW)
	case sourcePlain:
		op = "open /proc"
		fd, err = unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	default:
		return nil, fmt.Errorf("open procfs root: unknown source %v", src)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	root := os.NewFile(uintptr(fd), "/proc")
	if err := verifyRoot(root); err != nil {
		root.Close()
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return &Handle{root: root, src: src}, nil
}

// openFsopen creates a detached mount of a new procfs instance for the
// caller's pid namespace.
func openFsopen() (int, error) {
	fsfd, err := unix.Fsopen("proc", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("fsconfig create: %w", err)
	}
	// Not MOUNT_ATTR_RDONLY: writing attributes and sysctls is the point.
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC,
		unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsmount: %w", err)
	}
	return fd, nil
}

// verifyRoot checks that f is the root directory of a procfs.
func verifyRoot(f *os.File) error {
	if err := checkProcfs(f); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	if st.Ino != procRootIno {
		return fmt.Errorf("%s: inode %d is not the procfs root: %w", f.Name(), st.Ino, ErrNotProcfs)
	}
	return nil
}

// checkProcfs checks that f lives on a procfs.
func checkProcfs(f *os.File) error {
	var sfs unix.Statfs_t
	for {
		err := unix.Fstatfs(int(f.Fd()), &sfs)
		if err == nil {
			break
		}
		if err != unix.EINTR {
			return &os.PathError{Op: "fstatfs", Path: f.Name(), Err: err}
		}
	}
	if sfs.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("%s: filesystem magic %#x: %w", f.Name(), sfs.Type, ErrNotProcfs)
	}
	return nil
}

// Close releases the handle.
func (h *Handle) Close() error {
	return h.root.Close()
}

// cleanPath turns "/proc/a/b", "a/b" or "a//b/" into "a/b" and refuses
// anything that would leave /proc.
func cleanPath(p string) (string, error) {
	if rest, ok := strings.CutPrefix(p, "/proc/"); ok {
		p = rest
	}
	if p == "" || path.IsAbs(p) {
		return "", fmt.Errorf("path %q: must be relative to /proc", p)
	}
	c := path.Clean(p)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q: must name a file under /proc", p)
	}
	return c, nil
}

// resolveSelf replaces a leading "self" or "thread-self" component, which
// are symlinks that RESOLVE_NO_SYMLINKS would refuse, by their target as this
// procfs instance sees it ("1234", "1234/task/1235").
func (h *Handle) resolveSelf(p string) (string, error) {
	first, rest, _ := strings.Cut(p, "/")
	if first != "self" && first != "thread-self" {
		return p, nil
	}
	target, err := h.readlink(first)
	if first == "thread-self" && errors.Is(err, unix.ENOENT) {
		// Before Linux 3.17 there is no thread-self.
		var self string
		self, err = h.readlink("self")
		target = self + "/task/" + strconv.Itoa(unix.Gettid())
	}
	if err != nil {
		return "", err
	}
	if rest == "" {
		return target, nil
	}
	return target + "/" + rest, nil
}

func (h *Handle) readlink(name string) (string, error) {
	buf := make([]byte, 64)
	n, err := unix.Readlinkat(int(h.root.Fd()), name, buf)
	if err != nil {
		return "", &os.PathError{Op: "readlinkat", Path: "/proc/" + name, Err: err}
	}
	target := string(buf[:n])
	if _, err := cleanPath(target); err != nil || n == len(buf) {
		return "", fmt.Errorf("readlinkat /proc/%s: unexpected target %q", name, target)
	}
	return target, nil
}

// resolveFlags is how every path below the root is resolved.
const resolveFlags = unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS |
	unix.RESOLVE_NO_XDEV | unix.RESOLVE_BENEATH

// Open opens p, a path relative to /proc ("sys/net/ipv4/ip_forward",
// "self/oom_score_adj", "1234/uid_map"; a leading "/proc/" is accepted),
// with the open(2) flags flags (O_CLOEXEC is always added; O_CREAT is
// refused by the kernel). A leading "self" or "thread-self" is resolved by
// this handle's procfs; any other symlink, magic link or mount crossing on
// the way makes Open fail (ELOOP, EXDEV). The opened file is checked to be
// on procfs.
func (h *Handle) Open(p string, flags int) (*os.File, error) {
	c, err := cleanPath(p)
	if err != nil {
		return nil, fmt.Errorf("open /proc: %w", err)
	}
	name := "/proc/" + c
	resolved, err := h.resolveSelf(c)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOCTTY),
		Resolve: resolveFlags,
	}
	var fd int
	for range 16 {
		fd, err = unix.Openat2(int(h.root.Fd()), resolved, &how)
		// EAGAIN: a concurrent rename or mount raced the resolution.
		if err != unix.EINTR && err != unix.EAGAIN {
			break
		}
	}
	if err != nil {
		if errors.Is(err, unix.ENOSYS) {
			err = fmt.Errorf("openat2 needs Linux 5.6: %w: %w", ErrNotSupported, err)
		}
		return nil, &os.PathError{Op: "openat2", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	if err := checkProcfs(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return f, nil
}

// OpenThreadSelf opens /proc/thread-self/<sub> of the calling thread.
//
// Preconditions: the caller has locked its goroutine to the OS thread
// (runtime.LockOSThread) and keeps it locked while it uses the file.
func (h *Handle) OpenThreadSelf(sub string, flags int) (*os.File, error) {
	return h.Open("thread-self/"+sub, flags)
}

// WriteFile writes data to the procfs file p (see Open for the path form)
// in a single write(2), as procfs files expect.
func (h *Handle) WriteFile(p string, data []byte) error {
	f, err := h.Open(p, unix.O_WRONLY)
	if err != nil {
		return err
	}
	return writeClose(f, data)
}

func writeClose(f *os.File, data []byte) error {
	n, err := f.Write(data)
	if err == nil && n != len(data) {
		err = fmt.Errorf("write %s: short write (%d of %d bytes)", f.Name(), n, len(data))
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// The process-wide handle behind the package-level functions. A procfs
// handle stays valid across pivot_root and is cheap to keep; opening a new
// procfs instance for every write is not (one superblock per instance).
var (
	defaultMu sync.Mutex
	defaultH  *Handle
)

// Default returns the process-wide procfs handle, opening it on first use.
// Failures are not cached. The handle must not be closed.
func Default() (*Handle, error) {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if defaultH == nil {
		h, err := Open()
		if err != nil {
			return nil, err
		}
		defaultH = h
	}
	return defaultH, nil
}

// OpenThreadSelf opens /proc/thread-self/<sub> of the calling thread through
// the process-wide handle; see Handle.OpenThreadSelf.
//
// Preconditions: the caller has locked its goroutine to the OS thread.
func OpenThreadSelf(sub string, flags int) (*os.File, error) {
	h, err := Default()
	if err != nil {
		return nil, err
	}
	return h.OpenThreadSelf(sub, flags)
}

// WriteFile writes data to the procfs file p (relative to /proc, e.g.
// "sys/kernel/domainname") through the process-wide handle.
func WriteFile(p string, data []byte) error {
	h, err := Default()
	if err != nil {
		return err
	}
	return h.WriteFile(p, data)
}
