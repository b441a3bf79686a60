package rootfs

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountCgroupV1 gives the container its own cgroups at m.Destination. On a v1 or hybrid host:
// a tmpfs with one bind mount per hierarchy of the container's own cgroup (so the container sees
// its cgroup as the root whether or not it has a cgroup namespace); on a unified host: cgroup2.
func (r *Rootfs) mountCgroupV1(m *specs.Mount, o *Options) error {
	cs, err := hostCgroupSources(r.cfg)
	if err != nil {
		return err
	}
	target, err := r.mkdirHandle(m.Destination)
	if err != nil {
		return err
	}
	defer target.Close()
	ro := o.Flags&unix.MS_RDONLY != 0
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)

	// A unified-only host: one cgroup2 mount.
	if cs.unified {
		if r.cfg.CgroupNS {
			return mount("cgroup2", fdPath(target), "cgroup2", o.Flags|flags, "")
		}
		if err := mount(cs.unifiedSrc, fdPath(target), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if ro {
			return r.remountAt(m.Destination, unix.MS_RDONLY|flags)
		}
		return nil
	}

	if err := mount("tmpfs", fdPath(target), "tmpfs", flags, "mode=755"); err != nil {
		return err
	}
	for _, b := range cs.binds {
		name := b.name
		dest := filepath.Join(m.Destination, name)
		dir, err := pathrs.MkdirAllHandle(r.root, dest, 0o755)
		if err != nil {
			return fmt.Errorf("create %s: %w", dest, err)
		}
		err = mount(b.src, fdPath(dir), "", unix.MS_BIND|unix.MS_REC, "")
		dir.Close()
		if err == nil && ro {
			err = r.remountAt(dest, unix.MS_RDONLY|flags)
		}
		if err != nil {
			return err
		}
		// "cpu,cpuacct" is also reachable as "cpu" and "cpuacct".
		if strings.Contains(name, ",") {
			parent, err := pathrs.OpenatInRoot(r.root, m.Destination)
			if err != nil {
				return err
			}
			for _, c := range strings.Split(name, ",") {
				if c != name {
					_ = unix.Symlinkat(name, int(parent.Fd()), c)
				}
			}
			parent.Close()
		}
	}
	if ro {
		return r.remountAt(m.Destination, unix.MS_RDONLY|flags)
	}
	return nil
}

// hierarchySource returns the directory of the v1 hierarchy mounted at mi that the container's
// cgroup mount binds: the container's own cgroup there, else own's (false: none to bind).
func hierarchySource(mi *mountinfo.Info, own, paths map[string]string) (string, bool) {
	key := ""
	if mi.FSType == "cgroup" {
		if key = subsystemKey(mi.VFSOptions); key == "" {
			return "", false
		}
	}
	if src, ok := cgroupDir(paths, key); ok {
		return src, true
	}
	path, ok := own[key]
	if !ok {
		return "", false
	}
	return filepath.Join(mi.Mountpoint, strings.TrimPrefix(path, mi.Root)), true
}

// cgroupSources is what the container's cgroup mount is made of, for both its executors (the
// Go init's mountCgroupV1 and the plan's cgroupMount).
type cgroupSources struct {
	// unified is true on a unified-only host, where the mount is one cgroup2 (a new one in a
	// cgroup namespace, else a bind of unifiedSrc, this process's cgroup).
	unified    bool
	unifiedSrc string
	// binds are the v1 (and hybrid cgroup2) hierarchies under /sys/fs/cgroup/, by mount
	// directory name ("cpu,cpuacct"), each with the cgroup directory to bind there.
	binds []cgroupBind
}

type cgroupBind struct{ name, src string }

// hostCgroupSources reads the host's cgroup mounts and this process's cgroups (ownCgroups).
func hostCgroupSources(cfg *Config) (*cgroupSources, error) {
	mounts, err := cfg.mountTable(func(i *mountinfo.Info) (bool, bool) {
		return i.FSType != "cgroup" && i.FSType != "cgroup2", false
	})
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	s := &cgroupSources{}
	for _, mi := range mounts {
		if mi.FSType == "cgroup2" && mi.Mountpoint == "/sys/fs/cgroup" {
			return &cgroupSources{unified: true, unifiedSrc: filepath.Join(mi.Mountpoint, strings.TrimPrefix(own[""], mi.Root))}, nil
		}
		if !strings.HasPrefix(mi.Mountpoint, "/sys/fs/cgroup/") {
			continue
		}
		if src, ok := hierarchySource(mi, own, cfg.CgroupPaths); ok {
			s.binds = append(s.binds, cgroupBind{filepath.Base(mi.Mountpoint), src})
		}
	}
	return s, nil
}

// remountAt remounts the mount now at dest (inside the rootfs) with flags. A handle opened
// before a mount refers to what is under it, so dest is looked up afresh.
func (r *Rootfs) remountAt(dest string, flags uintptr) error {
	fresh, err := pathrs.OpenatInRoot(r.root, dest)
	if err != nil {
		return err
	}
	defer fresh.Close()
	return remountBind(fdPath(fresh), flags)
}

// cgroupDir returns the container's directory in the hierarchy whose controller list is key,
// from Config.CgroupPaths. The init may not have joined every hierarchy yet (memory and pids
// are joined right before execve), so its own /proc/self/cgroup is only the fallback.
func cgroupDir(paths map[string]string, key string) (string, bool) {
	for _, c := range strings.Split(key, ",") {
		if p, ok := paths[c]; ok && p != "" {
			return p, true
		}
	}
	return "", false
}

// subsystemKey returns the controller list of a v1 cgroup mount as /proc/self/cgroup spells
// it ("cpu,cpuacct", "name=systemd").
func subsystemKey(vfsOpts string) string {
	var ctrls []string
	for _, o := range strings.Split(vfsOpts, ",") {
		switch {
		case o == "rw" || o == "ro" || o == "xattr" || o == "clone_children" || o == "noprefix" || strings.HasPrefix(o, "release_agent="):
		case strings.HasPrefix(o, "name="):
			ctrls = append(ctrls, o)
		default:
			ctrls = append(ctrls, o)
		}
	}
	return strings.Join(ctrls, ",")
}

// ownCgroups maps each hierarchy's controller list ("" for cgroup2) to this process's path.
func ownCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) == 3 {
			out[parts[1]] = parts[2]
		}
	}
	return out, s.Err()
}
