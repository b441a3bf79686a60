package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func fm(m os.FileMode) *os.FileMode { return &m }
func id(v uint32) *uint32           { return &v }

// DefaultDevices are created in every container with a /dev mount (runtime-spec
// "Default Devices").
var DefaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: fm(0o666), UID: id(0), GID: id(0)},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, FileMode: fm(0o666), UID: id(0), GID: id(0)},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, FileMode: fm(0o666), UID: id(0), GID: id(0)},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, FileMode: fm(0o666), UID: id(0), GID: id(0)},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, FileMode: fm(0o666), UID: id(0), GID: id(0)},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, FileMode: fm(0o666), UID: id(0), GID: id(0)},
}

// setupDev fills a freshly mounted /dev: default devices and the standard symlinks.
func (r *Rootfs) setupDev() error {
	if err := r.createDevices(DefaultDevices, true); err != nil {
		return err
	}
	dev, err := pathrs.OpenatInRoot(r.root, "/dev")
	if err != nil {
		return fmt.Errorf("open /dev: %w", err)
	}
	defer dev.Close()
	for _, l := range devLinks() {
		// ptmx may exist as a node in the image: replace it by the link to the devpts one.
		if l[1] == "ptmx" {
			_ = unix.Unlinkat(int(dev.Fd()), "ptmx", 0)
		}
		if err := unix.Symlinkat(l[0], int(dev.Fd()), l[1]); err != nil && !errors.Is(err, unix.EEXIST) {
			return &os.PathError{Op: "symlink", Path: "/dev/" + l[1], Err: err}
		}
	}
	return nil
}

// devLinks returns the standard symlinks of /dev as target, name pairs.
func devLinks() [][2]string {
	links := [][2]string{
		{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
		{"pts/ptmx", "ptmx"},
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "core"})
	}
	return links
}

// createDevices makes each device node inside the rootfs. In a user namespace mknod(2) is
// not allowed, so the host's node is bind mounted instead, as runc does.
func (r *Rootfs) createDevices(devs []specs.LinuxDevice, devMounted bool) error {
	for i, d := range devs {
		if err := r.createDevice(&d, devMounted); err != nil {
			return fmt.Errorf("linux.devices[%d] %q: %w", i, d.Path, err)
		}
	}
	return nil
}

func (r *Rootfs) createDevice(d *specs.LinuxDevice, devMounted bool) error {
	if !filepath.IsAbs(d.Path) {
		return errors.New("path must be absolute")
	}
	dir, err := pathrs.MkdirAllHandle(r.root, filepath.Dir(d.Path), 0o755)
	if err != nil {
		return fmt.Errorf("create parent inside the rootfs: %w", err)
	}
	defer dir.Close()
	// The parent must be a real directory inside the rootfs (CVE-2026-41579: /dev may be a
	// symlink in the image; pathrs kept the lookup inside the root, and fd-relative calls
	// below never leave it).
	name := filepath.Base(d.Path)
	if r.cfg.UserNS {
		fd, err := unix.Openat(int(dir.Fd()), name, unix.O_CREAT|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return &os.PathError{Op: "create", Path: d.Path, Err: err}
		}
		if err == nil {
			unix.Close(fd)
		}
		target, err := pathrs.OpenatInRoot(r.root, d.Path)
		if err != nil {
			return err
		}
		defer target.Close()
		return mount(d.Path, fdPath(target), "", unix.MS_BIND, "")
	}
	mode, perm, err := deviceMode(d)
	if err != nil {
		return err
	}
	// Replace whatever the image has there (a file, a symlink, a FIFO: CVE-2025-31133).
	if err := unix.Unlinkat(int(dir.Fd()), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		if errors.Is(err, unix.EISDIR) {
			return errors.New("a directory is in the way")
		}
		return &os.PathError{Op: "unlink", Path: d.Path, Err: err}
	}
	if err := unix.Mknodat(int(dir.Fd()), name, mode|perm, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
		return &os.PathError{Op: "mknod", Path: d.Path, Err: err}
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if err := unix.Fchownat(int(dir.Fd()), name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chown", Path: d.Path, Err: err}
	}
	// mknod applies the umask; set the exact mode.
	if err := unix.Fchmodat(int(dir.Fd()), name, perm, 0); err != nil {
		return &os.PathError{Op: "chmod", Path: d.Path, Err: err}
	}
	return nil
}

// deviceMode returns the file type bits and the permissions of a device node.
func deviceMode(d *specs.LinuxDevice) (mode, perm uint32, err error) {
	switch d.Type {
	case "c", "u":
		mode = unix.S_IFCHR
	case "b":
		mode = unix.S_IFBLK
	case "p":
		mode = unix.S_IFIFO
	default:
		return 0, 0, fmt.Errorf("type: unknown device type %q", d.Type)
	}
	perm = 0o644
	if d.FileMode != nil {
		perm = uint32(*d.FileMode & 0o7777)
	}
	return mode, perm, nil
}

// mask hides a path: a directory under an empty read-only tmpfs, anything else under the
// container's /dev/null, which must be the real 1:3 character device (CVE-2025-31133).
func (r *Rootfs) mask(p string) error {
	target, err := pathrs.OpenatInRoot(r.root, p)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer target.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(target.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return mount("tmpfs", fdPath(target), "tmpfs", unix.MS_RDONLY, "")
	}
	null, err := r.verifiedNull()
	if err != nil {
		return err
	}
	defer null.Close()
	return mount(fdPath(null), fdPath(target), "", unix.MS_BIND, "")
}

// verifiedNull opens the rootfs's /dev/null and checks it is the 1:3 character device.
func (r *Rootfs) verifiedNull() (*os.File, error) {
	null, err := pathrs.OpenatInRoot(r.root, "/dev/null")
	if err == nil {
		var st unix.Stat_t
		if err = unix.Fstat(int(null.Fd()), &st); err == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFCHR && unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3 {
				return null, nil
			}
			err = errors.New("it is not the 1:3 character device")
		}
		null.Close()
	}
	// The image has no usable /dev/null: mask with the host's, which is known good.
	host, herr := os.OpenFile("/dev/null", unix.O_PATH|unix.O_CLOEXEC, 0)
	if herr != nil {
		return nil, fmt.Errorf("container /dev/null: %w", err)
	}
	var st unix.Stat_t
	if e := unix.Fstat(int(host.Fd()), &st); e != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		host.Close()
		return nil, fmt.Errorf("container /dev/null: %w", err)
	}
	return host, nil
}

// readonly bind mounts p onto itself read-only.
func (r *Rootfs) readonly(p string) error {
	target, err := pathrs.OpenatInRoot(r.root, p)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer target.Close()
	if err := mount(fdPath(target), fdPath(target), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	fresh, err := pathrs.OpenatInRoot(r.root, p)
	if err != nil {
		return err
	}
	defer fresh.Close()
	return remountBind(fdPath(fresh), unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
}

// copyTree copies the regular files, directories and symlinks under src into dst (tmpcopyup).
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		// Walk's FileInfo comes from os.Lstat, whose Sys is a *syscall.Stat_t.
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("copy %s: no stat data", p)
		}
		switch {
		case fi.IsDir():
			if rel != "." {
				if err := os.Mkdir(out, fi.Mode().Perm()); err != nil && !errors.Is(err, os.ErrExist) {
					return err
				}
			} else if err := os.Chmod(out, fi.Mode().Perm()); err != nil {
				return err
			}
		case fi.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, out); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
			if err != nil {
				in.Close()
				return err
			}
			_, err = io.Copy(f, in)
			in.Close()
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return nil
		}
		return os.Lchown(out, int(st.Uid), int(st.Gid))
	})
}
