package rootfs

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/initplan"
)

// This file compiles the same setup as Prepare and Finish into ops for the C init
// (libcontainer/initplan). Decisions that depend only on the host (a bind source's type, the
// host's cgroup mounts, whether the rootfs's parent mount is shared) are made here, in the
// parent, whose mount table the container's new mount namespace copies; what depends on the
// rootfs's contents is left to single ops that resolve paths inside it.

// ErrNotPlannable wraps the reason a config needs the Go init.
var ErrNotPlannable = errors.New("needs the Go init")

// CheckPlannable returns an error wrapping ErrNotPlannable when some part of the rootfs setup
// has no plan form: user namespaces (devices become bind mounts, flags may be locked),
// tmpcopyup and idmapped mounts.
func CheckPlannable(cfg *Config) error {
	if cfg.UserNS || inUserNS() {
		return fmt.Errorf("user namespace: %w", ErrNotPlannable)
	}
	for i := range cfg.Mounts {
		m := &cfg.Mounts[i]
		o, err := ParseOptions(m.Type, m.Options)
		if err != nil {
			return nil // PlanPrepare reports it
		}
		if o.TmpCopyUp || wantsIDMap(m, o) {
			return fmt.Errorf("mounts[%d]: tmpcopyup or idmap: %w", i, ErrNotPlannable)
		}
	}
	return nil
}

// Plan is the rootfs setup being compiled.
type Plan struct {
	cfg  *Config
	p    *initplan.Plan
	root int // slot of the O_PATH handle of cfg.Rootfs
}

// PlanPrepare appends the ops of Prepare; PlanFinish those of Finish. cfg must pass
// CheckPlannable.
func PlanPrepare(p *initplan.Plan, cfg *Config) (*Plan, error) {
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if v, ok := propagationOpts[cfg.Propagation]; ok {
		prop = v
	} else if cfg.Propagation != "" {
		return nil, fmt.Errorf("linux.rootfsPropagation: unknown value %q", cfg.Propagation)
	}
	p.Add(initplan.OpMount, "make / "+propagationName(prop), "", -1, "/", -1, "", prop, "")
	parent, err := sharedParent(cfg, prop)
	if err != nil {
		return nil, err
	}
	if parent != "" {
		p.Add(initplan.OpMount, "make "+parent+" private", "", -1, parent, -1, "", uintptr(unix.MS_PRIVATE), "")
	}
	p.Add(initplan.OpMount, "root.path: bind mount "+cfg.Rootfs+" onto itself", cfg.Rootfs, -1, cfg.Rootfs, -1, "", uintptr(unix.MS_BIND|unix.MS_REC), "")
	r := &Plan{cfg: cfg, p: p, root: p.Slot()}
	p.Add(initplan.OpOpen, "open root.path", cfg.Rootfs, unix.O_PATH|unix.O_DIRECTORY, r.root)
	hasDev := false
	for i := range cfg.Mounts {
		m := &cfg.Mounts[i]
		if filepath.Clean(m.Destination) == "/dev" {
			hasDev = true
		}
		what := fmt.Sprintf("mounts[%d] (destination %q)", i, m.Destination)
		if err := r.mountOne(m, what); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	if hasDev {
		if err := r.setupDev(); err != nil {
			return nil, err
		}
	}
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		if err := r.mknod(d, fmt.Sprintf("linux.devices[%d] %q", i, d.Path)); err != nil {
			return nil, fmt.Errorf("linux.devices[%d] %q: %w", i, d.Path, err)
		}
	}
	return r, nil
}

// PlanFinish appends masked and read-only paths, pivot_root, the read-only root and the
// final propagation, as Finish does.
func (r *Plan) PlanFinish() {
	p, cfg := r.p, r.cfg
	for i, path := range cfg.MaskedPaths {
		p.Add(initplan.OpMask, fmt.Sprintf("linux.maskedPaths[%d] %q", i, path), r.root, path)
	}
	for i, path := range cfg.ReadonlyPaths {
		p.Add(initplan.OpReadonly, fmt.Sprintf("linux.readonlyPaths[%d] %q", i, path), r.root, path)
	}
	p.Free(r.root)
	if cfg.NoPivot {
		p.Add(initplan.OpNoPivot, "no-pivot", cfg.Rootfs)
	} else {
		p.Add(initplan.OpPivot, "pivot_root", cfg.Rootfs)
	}
	if cfg.Readonly {
		p.Add(initplan.OpRemountBind, "root.readonly: remount / read-only", -1, "/", uintptr(unix.MS_RDONLY))
	}
	if v, ok := propagationOpts[cfg.Propagation]; ok && cfg.Propagation != "" {
		p.Add(initplan.OpMount, "linux.rootfsPropagation", "", -1, "/", -1, "", v, "")
	}
}

func (r *Plan) mountOne(m *specs.Mount, what string) error {
	if !filepath.IsAbs(m.Destination) {
		return errors.New("destination must be an absolute path")
	}
	o, err := ParseOptions(m.Type, m.Options)
	if err != nil {
		return err
	}
	switch {
	case o.Bind:
		return r.bindMount(m, o, what)
	case m.Type == "cgroup":
		return r.cgroupMount(m, o, what)
	}
	typ, src := m.Type, m.Source
	if typ == "" {
		return errors.New("type is required for a mount that is not a bind mount")
	}
	if src == "" {
		src = typ
	}
	target := r.p.Slot()
	r.p.Add(initplan.OpMkdirInRoot, what, r.root, m.Destination, target)
	if typ == "proc" || typ == "sysfs" {
		// CVE-2019-16884 and kin: /proc and /sys must land on a real directory of the rootfs.
		r.p.Add(initplan.OpCheckDir, what, target)
	}
	data := strings.Join(o.Data, ",")
	if r.cfg.FormatMountLabel != nil && r.cfg.MountLabel != "" && typ != "proc" && typ != "sysfs" {
		data = r.cfg.FormatMountLabel(data, r.cfg.MountLabel)
	}
	r.p.Add(initplan.OpMount, what+": "+mountOp(typ, src, data), src, -1, "", target, typ, o.Flags&^unix.MS_REMOUNT, data)
	r.p.Free(target)
	r.propagationAndAttrs(m.Destination, o, what)
	return nil
}

func (r *Plan) bindMount(m *specs.Mount, o *Options, what string) error {
	src, st, err := bindSource(m, r.cfg.Bundle)
	if err != nil {
		return err
	}
	target := r.p.Slot()
	if st.IsDir() {
		r.p.Add(initplan.OpMkdirInRoot, what, r.root, m.Destination, target)
	} else {
		r.p.Add(initplan.OpMkfileInRoot, what, r.root, m.Destination, target)
	}
	flags := uintptr(unix.MS_BIND)
	if o.Recursive {
		flags |= unix.MS_REC
	}
	r.p.Add(initplan.OpMount, what+": bind mount "+src, src, -1, "", target, "", flags, "")
	r.p.Free(target)
	// Bind mounts ignore most flags on the first call; a remount applies them, through the
	// path looked up afresh so that it hits the new mount.
	if f := o.Flags &^ unix.MS_REMOUNT; f != 0 {
		r.remountAt(m.Destination, f, what+": remount")
	}
	r.propagationAndAttrs(m.Destination, o, what)
	return nil
}

// remountAt remounts the mount now at dest (inside the rootfs) with flags.
func (r *Plan) remountAt(dest string, flags uintptr, what string) {
	s := r.p.Slot()
	r.p.Add(initplan.OpOpenInRoot, what+": reopen mount point", r.root, dest, s)
	r.p.Add(initplan.OpRemountBind, what, s, "", flags)
	r.p.Free(s)
}

func (r *Plan) propagationAndAttrs(dest string, o *Options, what string) {
	if len(o.Propagation) == 0 && o.AttrSet == 0 && o.AttrClr == 0 {
		return
	}
	s := r.p.Slot()
	r.p.Add(initplan.OpOpenInRoot, what+": reopen mount point", r.root, dest, s)
	for _, prop := range o.Propagation {
		r.p.Add(initplan.OpMount, what+": make "+propagationName(prop), "", -1, "", s, "", prop, "")
	}
	if o.AttrSet != 0 || o.AttrClr != 0 {
		clr := o.AttrClr
		if o.AttrSet&(unix.MOUNT_ATTR_NOATIME|unix.MOUNT_ATTR_STRICTATIME|unix.MOUNT_ATTR_RELATIME) != 0 {
			clr |= unix.MOUNT_ATTR__ATIME
		}
		r.p.Add(initplan.OpSetattr, what+": mount_setattr", s, o.AttrSet, clr)
	}
	r.p.Free(s)
}

// cgroupMount is mountCgroupV1's plan: the host's cgroup mounts are read here.
func (r *Plan) cgroupMount(m *specs.Mount, o *Options, what string) error {
	cs, err := hostCgroupSources(r.cfg)
	if err != nil {
		return err
	}
	ro := o.Flags&unix.MS_RDONLY != 0
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	target := r.p.Slot()
	defer r.p.Free(target)
	r.p.Add(initplan.OpMkdirInRoot, what, r.root, m.Destination, target)
	if cs.unified {
		if r.cfg.CgroupNS {
			r.p.Add(initplan.OpMount, what+": mount cgroup2", "cgroup2", -1, "", target, "cgroup2", o.Flags|flags, "")
			return nil
		}
		r.p.Add(initplan.OpMount, what+": bind mount "+cs.unifiedSrc, cs.unifiedSrc, -1, "", target, "", uintptr(unix.MS_BIND|unix.MS_REC), "")
		if ro {
			r.remountAt(m.Destination, unix.MS_RDONLY|flags, what+": remount read-only")
		}
		return nil
	}
	r.p.Add(initplan.OpMount, what+": mount tmpfs", "tmpfs", -1, "", target, "tmpfs", flags, "mode=755")
	for _, b := range cs.binds {
		name := b.name
		dest := filepath.Join(m.Destination, name)
		dir := r.p.Slot()
		r.p.Add(initplan.OpMkdirInRoot, what+": create "+dest, r.root, dest, dir)
		r.p.Add(initplan.OpMount, what+": bind mount "+b.src, b.src, -1, "", dir, "", uintptr(unix.MS_BIND|unix.MS_REC), "")
		r.p.Free(dir)
		if ro {
			r.remountAt(dest, unix.MS_RDONLY|flags, what+": remount "+dest+" read-only")
		}
		// "cpu,cpuacct" is also reachable as "cpu" and "cpuacct".
		if strings.Contains(name, ",") {
			parent := r.p.Slot()
			r.p.Add(initplan.OpOpenInRoot, what, r.root, m.Destination, parent)
			for _, c := range strings.Split(name, ",") {
				if c != name {
					r.p.Add(initplan.OpSymlink, what+": symlink "+c, parent, name, c, 0)
				}
			}
			r.p.Free(parent)
		}
	}
	if ro {
		r.remountAt(m.Destination, unix.MS_RDONLY|flags, what+": remount read-only")
	}
	return nil
}

// setupDev is setupDev's plan: default devices and the standard symlinks.
func (r *Plan) setupDev() error {
	for i := range DefaultDevices {
		d := &DefaultDevices[i]
		if err := r.mknod(d, fmt.Sprintf("default device %q", d.Path)); err != nil {
			return err
		}
	}
	dev := r.p.Slot()
	r.p.Add(initplan.OpOpenInRoot, "open /dev", r.root, "/dev", dev)
	for _, l := range devLinks() {
		// ptmx may exist as a node in the image: replace it by the link to the devpts one.
		replace := 0
		if l[1] == "ptmx" {
			replace = 1
		}
		r.p.Add(initplan.OpSymlink, "symlink /dev/"+l[1], dev, l[0], l[1], replace)
	}
	r.p.Free(dev)
	return nil
}

func (r *Plan) mknod(d *specs.LinuxDevice, what string) error {
	if !filepath.IsAbs(d.Path) {
		return errors.New("path must be absolute")
	}
	mode, perm, err := deviceMode(d)
	if err != nil {
		return err
	}
	uid, gid := uint32(0), uint32(0)
	if d.UID != nil {
		uid = *d.UID
	}
	if d.GID != nil {
		gid = *d.GID
	}
	r.p.Add(initplan.OpMknod, what, r.root, d.Path, mode|perm, unix.Mkdev(uint32(d.Major), uint32(d.Minor)), uid, gid)
	return nil
}

// sharedParent returns the mount point holding cfg.Rootfs when that mount is shared once the
// propagation prop has been applied to / ("" if not): makeParentPrivate's check, made in the
// parent, whose mounts the container's mount namespace copies with their propagation.
func sharedParent(cfg *Config, prop uintptr) (string, error) {
	resolved, err := filepath.EvalSymlinks(cfg.Rootfs)
	if err != nil {
		return "", fmt.Errorf("root.path: %w", err)
	}
	mounts, err := cfg.mountTable(mountinfo.ParentsFilter(resolved))
	if err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	var parent *mountinfo.Info
	for _, m := range mounts {
		if parent == nil || len(m.Mountpoint) >= len(parent.Mountpoint) {
			parent = m
		}
	}
	if parent == nil || !sharedAfter(parent, prop) {
		return "", nil
	}
	return parent.Mountpoint, nil
}

// sharedAfter reports whether mount m is shared after prop was applied to /.
func sharedAfter(m *mountinfo.Info, prop uintptr) bool {
	if prop&unix.MS_REC != 0 || m.Mountpoint == "/" {
		return prop&unix.MS_SHARED != 0
	}
	return strings.Contains(" "+m.Optional, " shared:")
}

func propagationName(flags uintptr) string {
	for k, v := range propagationOpts {
		if v == flags {
			return k
		}
	}
	return fmt.Sprintf("propagation %#x", flags)
}

// mountOp names a mount for error messages as mount's errors do.
func mountOp(fstype, source, data string) string {
	op := "mount " + fstype
	if data != "" {
		op += " (" + data + ")"
	}
	if source != "" && source != fstype {
		op += " from " + source
	}
	return op
}
