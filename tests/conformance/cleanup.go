package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Cgroup names the runtime-tools suite uses (cgroups.AbsCgroupPath and the
// first element of cgroups.RelCgroupPath in runtime-tools v0.9.0).
const (
	suiteAbsCgroup = "cgrouptest"
	suiteRelCgroup = "testdir"
)

// hierarchy is one mounted cgroup hierarchy and this process's place in it.
type hierarchy struct {
	mountpoint string // e.g. /sys/fs/cgroup/memory
	own        string // our cgroup relative to the mountpoint, e.g. /process_api/x
}

// mountEntry is the part of a /proc/self/mountinfo line the harness uses.
type mountEntry struct {
	root, mountpoint, fstype, superOpts string
}

// parseMountinfo parses /proc/self/mountinfo content.
func parseMountinfo(r io.Reader) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			continue
		}
		out = append(out, mountEntry{
			root: unescapeMount(f[3]), mountpoint: unescapeMount(f[4]),
			fstype: g[0], superOpts: g[2],
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// unescapeMount undoes the octal escapes (\040 for space) of mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupHierarchies matches the cgroup mounts in mounts with the lines of
// /proc/self/cgroup (procCgroup) to find where this process sits in each.
func cgroupHierarchies(mounts []mountEntry, procCgroup string) []hierarchy {
	own := map[string]string{} // sorted controller list, or "" for cgroup2
	for _, l := range strings.Split(procCgroup, "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		own[controllerKey(strings.Split(parts[1], ","))] = parts[2]
	}
	var hs []hierarchy
	for _, m := range mounts {
		var key string
		switch m.fstype {
		case "cgroup2":
			key = ""
		case "cgroup":
			var ctrls []string
			for _, o := range strings.Split(m.superOpts, ",") {
				if o == "rw" || o == "ro" || strings.HasPrefix(o, "release_agent=") ||
					o == "noprefix" || o == "clone_children" || o == "xattr" || o == "cpuset_v2_mode" {
					continue
				}
				ctrls = append(ctrls, o)
			}
			key = controllerKey(ctrls)
		default:
			continue
		}
		path, ok := own[key]
		if !ok {
			continue
		}
		rel, err := filepath.Rel(m.root, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = "." // our cgroup is outside this mount's view
		}
		hs = append(hs, hierarchy{mountpoint: m.mountpoint, own: filepath.Join("/", rel)})
	}
	return hs
}

func controllerKey(ctrls []string) string {
	var c []string
	for _, s := range ctrls {
		if s != "" {
			c = append(c, s)
		}
	}
	sort.Strings(c)
	return strings.Join(c, ",")
}

// cgroupCandidates lists the cgroup directories a validation program may
// create: the suite's absolute and relative test cgroups and, for every
// container id it created, a cgroup named after the id at the hierarchy root
// or under our own cgroup. It lists only those names.
func cgroupCandidates(hs []hierarchy, ids []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, h := range hs {
		add(filepath.Join(h.mountpoint, suiteAbsCgroup))
		add(filepath.Join(h.mountpoint, h.own, suiteRelCgroup))
		for _, id := range ids {
			if id == "" || strings.ContainsAny(id, "/.") {
				continue
			}
			add(filepath.Join(h.mountpoint, id))
			add(filepath.Join(h.mountpoint, h.own, id))
		}
	}
	return out
}

// hostHierarchies reads this process's cgroup hierarchies from /proc.
func hostHierarchies() ([]hierarchy, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("open mountinfo: %w", err)
	}
	defer f.Close()
	mounts, err := parseMountinfo(f)
	if err != nil {
		return nil, err
	}
	pc, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	return cgroupHierarchies(mounts, string(pc)), nil
}

// existing returns the set of paths that exist now.
func existing(paths []string) map[string]bool {
	m := map[string]bool{}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			m[p] = true
		}
	}
	return m
}

// removeCgroupTree removes the cgroup directory root and its descendants,
// deepest first. In each it thaws a frozen v1 freezer, kills the processes
// left in cgroup.procs (they were started by the program under test) and
// waits for them to leave before rmdir. It returns the directories removed.
func removeCgroupTree(root string, reap func()) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk cgroup %s: %w", root, err)
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var removed []string
	var errs []error
	for _, d := range dirs {
		if st, err := os.ReadFile(filepath.Join(d, "freezer.state")); err == nil && strings.TrimSpace(string(st)) != "THAWED" {
			_ = os.WriteFile(filepath.Join(d, "freezer.state"), []byte("THAWED"), 0)
		}
		var rmErr error
		for try := 0; try < 50; try++ {
			for _, pid := range cgroupPids(d) {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
			reap()
			if rmErr = unix.Rmdir(d); rmErr == nil || errors.Is(rmErr, unix.ENOENT) {
				rmErr = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if rmErr != nil {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", d, rmErr))
			continue
		}
		removed = append(removed, d)
	}
	return removed, errors.Join(errs...)
}

func cgroupPids(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// childrenOf lists the processes whose parent is ppid.
func childrenOf(ppid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses: parse after the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 2 {
			if p, err := strconv.Atoi(f[1]); err == nil && p == ppid {
				out = append(out, pid)
			}
		}
	}
	return out
}

// reapAll collects every exited child without blocking.
func reapAll() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// killOrphans kills every remaining child of this process (as a subreaper,
// the orphans of the program under test are re-parented to us) until none
// is left or the deadline passes. It returns how many it killed.
func killOrphans(deadline time.Duration) int {
	killed := 0
	me := os.Getpid()
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		reapAll()
		kids := childrenOf(me)
		if len(kids) == 0 {
			break
		}
		for _, pid := range kids {
			if unix.Kill(pid, unix.SIGKILL) == nil {
				killed++
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	reapAll()
	return killed
}

// unmountUnder detaches every mount at or below dir, deepest first, in the
// harness's mount namespace (for runs without mount isolation).
func unmountUnder(dir string) (int, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return 0, fmt.Errorf("open mountinfo: %w", err)
	}
	mounts, err := parseMountinfo(f)
	f.Close()
	if err != nil {
		return 0, err
	}
	var points []string
	for _, m := range mounts {
		if m.mountpoint == dir || strings.HasPrefix(m.mountpoint, dir+"/") {
			points = append(points, m.mountpoint)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	n := 0
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// removeDir unmounts whatever is mounted below dir and removes it. It
// returns the number of mounts it detached.
func removeDir(dir string) (int, error) {
	n, err := unmountUnder(dir)
	if err != nil {
		return n, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return n, fmt.Errorf("remove %s: %w", dir, err)
	}
	return n, nil
}
