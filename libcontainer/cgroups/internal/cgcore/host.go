package cgcore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// V1Controllers are the cgroup v1 hierarchies husk places containers in.
// Named hierarchies ("name=systemd") are joined but carry no resources.
var v1Known = map[string]bool{
	"cpu": true, "cpuacct": true, "cpuset": true, "memory": true,
	"devices": true, "freezer": true, "blkio": true, "pids": true,
	"hugetlb": true, "net_cls": true, "net_prio": true, "perf_event": true,
	"rdma": true, "misc": true, "name=systemd": true,
}

// Host describes the cgroup hierarchies visible to this process and the
// process's own place in them. Tests build one by hand over t.TempDir().
type Host struct {
	// V1 maps a v1 hierarchy key ("memory", "name=systemd") to its
	// mountpoint; empty on a pure v2 host.
	V1 map[string]string
	// Unified is the cgroup2 mountpoint, "" if none.
	Unified string
	// Own maps the same keys (UnifiedKey for v2) to this process's cgroup
	// path as /proc/self/cgroup shows it.
	Own map[string]string
	// Systemd is true when systemd is PID 1 (sd_booted: /run/systemd/system).
	Systemd bool
}

// IsUnified reports a pure cgroup v2 host.
func (h *Host) IsUnified() bool { return len(h.V1) == 0 && h.Unified != "" }

// DetectHost reads /proc/self/mountinfo and /proc/self/cgroup.
func DetectHost() (*Host, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil, fmt.Errorf("read cgroup mounts: %w", err)
	}
	return DetectHostFrom(mounts)
}

// DetectHostFrom is DetectHost with this process's mount table (or its cgroup mounts) read
// already; it reads /proc/self/cgroup.
func DetectHostFrom(mounts []*mountinfo.Info) (*Host, error) {
	mounts = slices.DeleteFunc(slices.Clone(mounts), func(m *mountinfo.Info) bool {
		return m.FSType != "cgroup" && m.FSType != "cgroup2"
	})
	own, err := ProcCgroup(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	h := hostFromMounts(mounts, own)
	_, serr := os.Lstat("/run/systemd/system")
	h.Systemd = serr == nil
	if len(h.V1) == 0 && h.Unified == "" {
		return nil, fmt.Errorf("detect cgroups: no cgroup or cgroup2 filesystem is mounted: %w", ErrNotSupported)
	}
	return h, nil
}

func hostFromMounts(mounts []*mountinfo.Info, own map[string]string) *Host {
	// Shortest mountpoint first, so /sys/fs/cgroup/memory wins over a bind
	// of it somewhere deeper.
	mounts = slices.Clone(mounts)
	sort.SliceStable(mounts, func(i, j int) bool { return len(mounts[i].Mountpoint) < len(mounts[j].Mountpoint) })
	h := &Host{V1: map[string]string{}, Own: map[string]string{}}
	for _, m := range mounts {
		// A mount of a sub-tree (Root != "/") would need path
		// translation; husk only uses whole-hierarchy mounts.
		if m.Root != "/" {
			continue
		}
		if m.FSType == "cgroup2" {
			if h.Unified == "" {
				h.Unified = m.Mountpoint
				if p, ok := own[UnifiedKey]; ok {
					h.Own[UnifiedKey] = p
				}
			}
			continue
		}
		for _, opt := range strings.Split(m.VFSOptions, ",") {
			if !v1Known[opt] {
				continue
			}
			if _, dup := h.V1[opt]; dup {
				continue
			}
			h.V1[opt] = m.Mountpoint
			if p, ok := own[opt]; ok {
				h.Own[opt] = p
			} else {
				h.Own[opt] = "/"
			}
		}
	}
	return h
}

// ParseProcCgroup parses /proc/<pid>/cgroup into hierarchy key -> path. A
// line "4:cpu,cpuacct:/x" yields both "cpu" and "cpuacct"; the v2 line
// "0::/x" yields UnifiedKey.
func ParseProcCgroup(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("parse cgroup line %q: want id:controllers:path", sc.Text())
		}
		if parts[1] == "" {
			out[UnifiedKey] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ProcCgroup reads /proc/<pid>/cgroup.
func ProcCgroup(pid int) (map[string]string, error) {
	p := fmt.Sprintf("/proc/%d/cgroup", pid)
	b, err := readRaw(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	m, err := ParseProcCgroup(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return m, nil
}

// CgroupPath places a container's cgroup within one hierarchy, as runc does
// for the cgroupfs drivers: an absolute cfgPath is used as given; a relative
// one nests under own (the caller's own cgroup in that hierarchy); an empty
// one is own/name. Components ".." are rejected.
func CgroupPath(cfgPath, name, own string) (string, error) {
	if err := checkDotDot("linux.cgroupsPath", cfgPath); err != nil {
		return "", err
	}
	if cfgPath == "" {
		if name == "" {
			return "", fmt.Errorf("linux.cgroupsPath: empty and no container name to use instead")
		}
		if err := checkDotDot("container id", name); err != nil {
			return "", err
		}
		cfgPath = name
	}
	if path.IsAbs(cfgPath) {
		return path.Clean(cfgPath), nil
	}
	if own == "" {
		own = "/"
	}
	return path.Join(own, cfgPath), nil
}

func checkDotDot(field, p string) error {
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return fmt.Errorf("%s %q: must not contain \"..\"", field, p)
		}
	}
	return nil
}

// MkdirAll makes dir and any missing parents, returning the directories it
// made, parents first, so that they (and only they) can be removed later.
// dir itself is tried first, as usually only it is missing; each ENOENT
// moves one level up.
func MkdirAll(dir string) (created []string, err error) {
	var missing []string // deepest first
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		err := unix.Mkdir(d, 0o755)
		if err == nil {
			created = append(created, d)
			break
		}
		if errors.Is(err, unix.EEXIST) {
			break
		}
		if !errors.Is(err, unix.ENOENT) || d == "/" || d == "." {
			return nil, fmt.Errorf("mkdir %s: %w", d, err)
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := unix.Mkdir(missing[i], 0o755); err == nil {
			created = append(created, missing[i])
		} else if !errors.Is(err, unix.EEXIST) {
			return created, fmt.Errorf("mkdir %s: %w", missing[i], err)
		}
	}
	return created, nil
}
