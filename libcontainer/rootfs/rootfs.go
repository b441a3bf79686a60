package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Config is what Setup needs, taken from config.json by the init.
type Config struct {
	Rootfs        string // absolute host path of root.path
	Bundle        string // relative bind-mount sources are resolved against it
	Readonly      bool
	Propagation   string // linux.rootfsPropagation
	Mounts        []specs.Mount
	Devices       []specs.LinuxDevice
	MaskedPaths   []string
	ReadonlyPaths []string
	MountLabel    string
	NoPivot       bool
	UserNS        bool // in a new user namespace: devices are bind mounts, not mknod
	CgroupNS      bool // in a new cgroup namespace
	// CgroupPaths maps v1 controllers ("memory", "name=systemd") to the container's cgroup
	// directories, for the cgroup mount.
	CgroupPaths map[string]string
	// FormatMountLabel adds the SELinux context option to fs data; nil leaves data alone.
	FormatMountLabel func(data, label string) string
	// IDMapped maps a Mounts index to the detached idmapped mount the parent made for it
	// (OpenIDMapped); it is moved into place instead of a bind mount of the source.
	IDMapped map[int]*os.File
	// HostMounts is the caller's mount table (mountinfo.GetMounts), when it has read it
	// already for other needs; nil reads /proc/self/mountinfo where needed.
	HostMounts []*mountinfo.Info
}

// mountTable returns the mounts of /proc/self/mountinfo that filter keeps (nil: all), from
// HostMounts when the caller gave it.
func (c *Config) mountTable(filter mountinfo.FilterFunc) ([]*mountinfo.Info, error) {
	if c.HostMounts == nil {
		return mountinfo.GetMounts(filter)
	}
	var out []*mountinfo.Info
	for _, m := range c.HostMounts {
		skip, stop := false, false
		if filter != nil {
			skip, stop = filter(m)
		}
		if !skip {
			out = append(out, m)
		}
		if stop {
			break
		}
	}
	return out, nil
}

// Rootfs is the container filesystem being set up.
type Rootfs struct {
	cfg  *Config
	root *os.File // O_PATH handle of cfg.Rootfs, the anchor of every lookup
}

// Prepare makes mounts private, binds the rootfs onto itself and mounts everything in the
// config (devices, masked and read-only paths included). pivot_root is left to Pivot.
func Prepare(cfg *Config) (*Rootfs, error) {
	// A joined user namespace (linux.namespaces path) forbids mknod as much as a new one.
	if !cfg.UserNS {
		cfg.UserNS = inUserNS()
	}
	// Keep the container's mounts from propagating back to the host: slave by default, as
	// runc, so host mounts still propagate in.
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if p, ok := propagationOpts[cfg.Propagation]; ok {
		prop = p
	} else if cfg.Propagation != "" {
		return nil, fmt.Errorf("linux.rootfsPropagation: unknown value %q", cfg.Propagation)
	}
	if err := mount("", "/", "", prop, ""); err != nil {
		return nil, err
	}
	// pivot_root needs the new root's parent mount to be not shared, and a shared one would
	// carry the rootfs bind below back to the host. A non-recursive rootfsPropagation
	// ("private", "slave") leaves it shared when it was shared on the host.
	if err := makeParentPrivate(cfg.Rootfs); err != nil {
		return nil, err
	}
	if err := mount(cfg.Rootfs, cfg.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return nil, err
	}
	root, err := os.OpenFile(cfg.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open root.path: %w", err)
	}
	r := &Rootfs{cfg: cfg, root: root}
	hasDev := false
	for i := range cfg.Mounts {
		m := &cfg.Mounts[i]
		if filepath.Clean(m.Destination) == "/dev" {
			hasDev = true
		}
		if err := r.mountOne(m, cfg.IDMapped[i]); err != nil {
			return nil, fmt.Errorf("mounts[%d] (destination %q): %w", i, m.Destination, err)
		}
	}
	if hasDev {
		if err := r.setupDev(); err != nil {
			return nil, err
		}
	}
	if err := r.createDevices(cfg.Devices, hasDev); err != nil {
		return nil, err
	}
	return r, nil
}

// Close releases the rootfs handle.
func (r *Rootfs) Close() { r.root.Close() }

// Finish applies masked and read-only paths and the read-only root, then pivots into the
// rootfs (or moves it onto / and chroots with NoPivot).
func (r *Rootfs) Finish() error {
	for i, p := range r.cfg.MaskedPaths {
		if err := r.mask(p); err != nil {
			return fmt.Errorf("linux.maskedPaths[%d] %q: %w", i, p, err)
		}
	}
	for i, p := range r.cfg.ReadonlyPaths {
		if err := r.readonly(p); err != nil {
			return fmt.Errorf("linux.readonlyPaths[%d] %q: %w", i, p, err)
		}
	}
	if err := r.pivot(); err != nil {
		return err
	}
	if r.cfg.Readonly {
		if err := remountReadonly("/"); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	if p, ok := propagationOpts[r.cfg.Propagation]; ok && r.cfg.Propagation != "" {
		if err := mount("", "/", "", p, ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation: %w", err)
		}
	}
	return nil
}

func (r *Rootfs) pivot() error {
	if r.cfg.NoPivot {
		if err := unix.Chdir(r.cfg.Rootfs); err != nil {
			return &os.PathError{Op: "chdir", Path: r.cfg.Rootfs, Err: err}
		}
		if err := mount(r.cfg.Rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
			return err
		}
		if err := unix.Chroot("."); err != nil {
			return &os.PathError{Op: "chroot", Path: r.cfg.Rootfs, Err: err}
		}
		return unix.Chdir("/")
	}
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(oldRoot)
	if err := unix.Chdir(r.cfg.Rootfs); err != nil {
		return &os.PathError{Op: "chdir", Path: r.cfg.Rootfs, Err: err}
	}
	// pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." after
	// changing back to the old root detaches it, and no directory for it is needed.
	if err := unix.PivotRoot(".", "."); err != nil {
		return &os.PathError{Op: "pivot_root", Path: r.cfg.Rootfs, Err: err}
	}
	if err := unix.Fchdir(oldRoot); err != nil {
		return &os.PathError{Op: "fchdir", Path: "old root", Err: err}
	}
	if err := mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "umount", Path: "old root", Err: err}
	}
	return unix.Chdir("/")
}

// mountOne performs one config.json mount; idmapped is its idmapped source, if any.
func (r *Rootfs) mountOne(m *specs.Mount, idmapped *os.File) error {
	if !filepath.IsAbs(m.Destination) {
		return errors.New("destination must be an absolute path")
	}
	o, err := ParseOptions(m.Type, m.Options)
	if err != nil {
		return err
	}
	if idmapped == nil && wantsIDMap(m, o) {
		return errors.New("idmap: no idmapped mount was prepared")
	}
	switch {
	case o.Bind:
		return r.bindMount(m, o, idmapped)
	case m.Type == "cgroup":
		return r.mountCgroupV1(m, o)
	}
	typ, src := m.Type, m.Source
	if typ == "" {
		return errors.New("type is required for a mount that is not a bind mount")
	}
	if src == "" {
		src = typ
	}
	target, err := r.mkdirHandle(m.Destination)
	if err != nil {
		return err
	}
	defer target.Close()
	if typ == "proc" || typ == "sysfs" {
		// CVE-2019-16884 and kin: /proc and /sys must land on a real directory of the rootfs.
		if err := checkDir(target); err != nil {
			return err
		}
	}
	data := strings.Join(o.Data, ",")
	if r.cfg.FormatMountLabel != nil && r.cfg.MountLabel != "" && typ != "proc" && typ != "sysfs" {
		data = r.cfg.FormatMountLabel(data, r.cfg.MountLabel)
	}
	if o.TmpCopyUp && typ == "tmpfs" {
		if err := r.tmpcopyup(target, src, o, data); err != nil {
			return err
		}
		return r.applyPropagationAndAttrs(m.Destination, o)
	}
	if err := mount(src, fdPath(target), typ, o.Flags&^unix.MS_REMOUNT, data); err != nil {
		return err
	}
	return r.applyPropagationAndAttrs(m.Destination, o)
}

func (r *Rootfs) bindMount(m *specs.Mount, o *Options, idmapped *os.File) error {
	src, st, err := bindSource(m, r.cfg.Bundle)
	if err != nil {
		return err
	}
	var target *os.File
	if st.IsDir() {
		target, err = r.mkdirHandle(m.Destination)
	} else {
		target, err = r.mkfileHandle(m.Destination)
	}
	if err != nil {
		return err
	}
	defer target.Close()
	dst := fdPath(target)
	flags := uintptr(unix.MS_BIND)
	if o.Recursive {
		flags |= unix.MS_REC
	}
	if idmapped != nil {
		if err := attachIDMapped(idmapped, target); err != nil {
			return err
		}
	} else if err := mount(src, dst, "", flags, ""); err != nil {
		return err
	}
	// Bind mounts ignore most flags on the first call; a remount applies them. Reopen the
	// mounted path through the same handle's parent so the remount hits the new mount.
	if o.Flags&^unix.MS_REMOUNT != 0 {
		fresh, err := pathrs.OpenatInRoot(r.root, m.Destination)
		if err != nil {
			return fmt.Errorf("reopen bind target: %w", err)
		}
		defer fresh.Close()
		if err := remountBind(fdPath(fresh), o.Flags&^unix.MS_REMOUNT); err != nil {
			return err
		}
	}
	return r.applyPropagationAndAttrs(m.Destination, o)
}

// bindSource returns a bind mount's source (relative ones are in the bundle) and what it is.
func bindSource(m *specs.Mount, bundle string) (string, os.FileInfo, error) {
	src := m.Source
	if src == "" {
		return "", nil, errors.New("source is required for a bind mount")
	}
	if !filepath.IsAbs(src) {
		src = filepath.Join(bundle, src)
	}
	if err := checkProcSysSource(m.Destination, src); err != nil {
		return "", nil, err
	}
	st, err := os.Stat(src)
	if err != nil {
		return "", nil, fmt.Errorf("bind source: %w", err)
	}
	return src, st, nil
}

// remountBind sets flags on a bind mount. In a user namespace the kernel refuses to clear
// flags the outer mount locked (nodev, nosuid, noexec, atime), so keep those set on EPERM.
func remountBind(path string, flags uintptr) error {
	err := mount("", path, "", unix.MS_REMOUNT|unix.MS_BIND|flags, "")
	if err == nil || !errors.Is(err, unix.EPERM) {
		return err
	}
	var st unix.Statfs_t
	if e := unix.Statfs(path, &st); e != nil {
		return err
	}
	locked := uintptr(st.Flags) & (unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	return mount("", path, "", unix.MS_REMOUNT|unix.MS_BIND|flags|locked, "")
}

// applyPropagationAndAttrs sets the propagation and recursive attributes of the mount now at
// dest. A handle opened before the mount refers to what is under it, so dest is looked up
// afresh.
func (r *Rootfs) applyPropagationAndAttrs(dest string, o *Options) error {
	if len(o.Propagation) == 0 && o.AttrSet == 0 && o.AttrClr == 0 {
		return nil
	}
	fresh, err := pathrs.OpenatInRoot(r.root, dest)
	if err != nil {
		return fmt.Errorf("reopen mount point: %w", err)
	}
	defer fresh.Close()
	dst := fdPath(fresh)
	for _, p := range o.Propagation {
		if err := mount("", dst, "", p, ""); err != nil {
			return err
		}
	}
	if o.AttrSet != 0 || o.AttrClr != 0 {
		attr := &unix.MountAttr{Attr_set: o.AttrSet, Attr_clr: o.AttrClr}
		if o.AttrSet&(unix.MOUNT_ATTR_NOATIME|unix.MOUNT_ATTR_STRICTATIME|unix.MOUNT_ATTR_RELATIME) != 0 {
			attr.Attr_clr |= unix.MOUNT_ATTR__ATIME
		}
		if err := unix.MountSetattr(-1, dst, unix.AT_RECURSIVE, attr); err != nil {
			return &os.PathError{Op: "mount_setattr", Path: dst, Err: err}
		}
	}
	return nil
}

func (r *Rootfs) tmpcopyup(target *os.File, src string, o *Options, data string) error {
	// Mount a scratch tmpfs elsewhere, copy the image's directory into it, then move it over.
	tmp, err := os.MkdirTemp("", "husk-tmpcopyup")
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := mount(src, tmp, "tmpfs", o.Flags&^unix.MS_REMOUNT, data); err != nil {
		return err
	}
	if err := copyTree(fdPath(target)+"/.", tmp); err != nil {
		_ = unix.Unmount(tmp, unix.MNT_DETACH)
		return fmt.Errorf("tmpcopyup: %w", err)
	}
	if err := mount(tmp, fdPath(target), "", unix.MS_MOVE, ""); err != nil {
		_ = unix.Unmount(tmp, unix.MNT_DETACH)
		return err
	}
	return nil
}

// mkdirHandle creates dest (and parents) inside the rootfs and returns an O_PATH handle of it.
func (r *Rootfs) mkdirHandle(dest string) (*os.File, error) {
	f, err := pathrs.MkdirAllHandle(r.root, dest, 0o755)
	if err != nil {
		return nil, fmt.Errorf("create mount point inside the rootfs: %w", err)
	}
	return f, nil
}

// mkfileHandle creates an empty file at dest inside the rootfs (parents too) unless something
// exists there already, and returns an O_PATH handle of what dest resolves to.
func (r *Rootfs) mkfileHandle(dest string) (*os.File, error) {
	dir, err := pathrs.MkdirAllHandle(r.root, filepath.Dir(dest), 0o755)
	if err != nil {
		return nil, fmt.Errorf("create mount point parent inside the rootfs: %w", err)
	}
	defer dir.Close()
	fd, err := unix.Openat(int(dir.Fd()), filepath.Base(dest), unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err == nil {
		unix.Close(fd)
	} else if !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "create mount point", Path: dest, Err: err}
	}
	f, err := pathrs.OpenatInRoot(r.root, dest)
	if err != nil {
		return nil, fmt.Errorf("open mount point inside the rootfs: %w", err)
	}
	return f, nil
}

// checkProcSysSource refuses a bind mount onto /proc or /sys whose source is not a procfs or
// a sysfs: a fake /proc would take the writes meant for the kernel, such as LSM labels
// (CVE-2019-16884, CVE-2023-27561, CVE-2023-28642).
func checkProcSysSource(dest, src string) error {
	var magic int64
	switch filepath.Clean(dest) {
	case "/proc":
		magic = unix.PROC_SUPER_MAGIC
	case "/sys":
		magic = unix.SYSFS_MAGIC
	default:
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(src, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: src, Err: err}
	}
	if int64(st.Type) != magic {
		return fmt.Errorf("bind source %s: filesystem magic %#x, want %#x: a bind mount onto %s must be of the real filesystem", src, st.Type, magic, dest)
	}
	return nil
}

func checkDir(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return errors.New("mount point is not a directory")
	}
	return nil
}

// inUserNS reports whether this process is in a user namespace other than the initial one,
// whose uid_map is the identity over all ids (user_namespaces(7)).
func inUserNS() bool {
	data, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	return strings.Join(strings.Fields(string(data)), " ") != "0 0 4294967295"
}

// makeParentPrivate makes the mount holding path private if it is shared.
func makeParentPrivate(path string) error {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("root.path: %w", err)
	}
	mounts, err := mountinfo.GetMounts(mountinfo.ParentsFilter(resolved))
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	var parent *mountinfo.Info
	for _, m := range mounts {
		if parent == nil || len(m.Mountpoint) >= len(parent.Mountpoint) {
			parent = m
		}
	}
	if parent == nil || !strings.Contains(" "+parent.Optional, " shared:") {
		return nil
	}
	return mount("", parent.Mountpoint, "", unix.MS_PRIVATE, "")
}

func remountReadonly(path string) error {
	return remountBind(path, unix.MS_RDONLY)
}

// fdPath names an open handle as a path mount(2) accepts; the magic link pins the exact
// inode that was resolved safely.
func fdPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }

// mount wraps mount(2), retrying EINTR, as an *os.PathError naming the target and data.
func mount(source, target, fstype string, flags uintptr, data string) error {
	for {
		err := unix.Mount(source, target, fstype, flags, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			op := "mount"
			if fstype != "" {
				op = "mount " + fstype
			}
			if data != "" {
				op += " (" + data + ")"
			}
			if source != "" && source != fstype {
				op += " from " + source
			}
			return &os.PathError{Op: op, Path: target, Err: err}
		}
		return nil
	}
}
