package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupRoot is where cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// mountEntry is one line of /proc/self/mountinfo, the fields we use.
type mountEntry struct {
	mountPoint string
	fsType     string
	superOpts  []string
}

// parseMountinfo parses proc(5) mountinfo lines.
func parseMountinfo(r io.Reader) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			return nil, fmt.Errorf("parse mountinfo line %q: no separator", line)
		}
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if len(f) < 6 || len(g) < 3 {
			return nil, fmt.Errorf("parse mountinfo line %q: too few fields", line)
		}
		out = append(out, mountEntry{
			mountPoint: unescapeOctal(f[4]),
			fsType:     g[0],
			superOpts:  strings.Split(g[2], ","),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// unescapeOctal undoes the \ooo escapes mountinfo uses for space, tab,
// newline and backslash.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
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

// v1MountData returns the mount(2) data that mounts the same cgroup v1
// hierarchy again: its controllers and name=, without rw/ro and without a
// release_agent (only valid for the first mount of a hierarchy).
func v1MountData(superOpts []string) string {
	var keep []string
	for _, o := range superOpts {
		if o == "rw" || o == "ro" || strings.HasPrefix(o, "release_agent=") {
			continue
		}
		keep = append(keep, o)
	}
	return strings.Join(keep, ",")
}

// cgroupLayout is what setupCgroups mounted.
type cgroupLayout struct {
	hierarchies []string // mount points of the hierarchies, for cleanup
	hidden      []string // cgroup2 mount points left out (hybrid layout)
}

// setupCgroups must run in a fresh private mount namespace that is also a
// fresh cgroup namespace. It detaches every mount at or under /sys/fs/cgroup
// (a shadowed mount would still show in mountinfo, which runtimes read),
// mounts a private tmpfs on /sys/fs/cgroup and every cgroup v1 hierarchy
// again below it. A cgroup mount made inside a cgroup namespace is rooted at
// the namespace root (our own cgroup), so "/" in every hierarchy is our
// cgroup. A cgroup2 hierarchy beside v1 ones (hybrid layout) is left out. On
// a pure cgroup2 host, cgroup2 is mounted again on /sys/fs/cgroup.
func setupCgroups() (*cgroupLayout, error) {
	mounts, err := readMountinfo()
	if err != nil {
		return nil, err
	}
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME
	var layout cgroupLayout
	var v1 []mountEntry
	var below []string // every mount point at or under cgroupRoot, in mount order
	pureV2 := false
	seen := map[string]bool{}
	for _, m := range mounts {
		under := strings.HasPrefix(m.mountPoint, cgroupRoot+"/")
		if under || m.mountPoint == cgroupRoot {
			below = append(below, m.mountPoint)
		}
		switch {
		case m.fsType == "cgroup2" && m.mountPoint == cgroupRoot:
			pureV2 = true
		case m.fsType == "cgroup2" && under:
			layout.hidden = append(layout.hidden, m.mountPoint)
		case m.fsType == "cgroup" && under && !seen[m.mountPoint]:
			seen[m.mountPoint] = true
			v1 = append(v1, m)
		}
	}
	if !pureV2 && len(v1) == 0 {
		return nil, errors.New("set up cgroups: no cgroup hierarchy mounted under " + cgroupRoot)
	}
	type link struct{ name, target string }
	var links []link
	entries, err := os.ReadDir(cgroupRoot)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", cgroupRoot, err)
	}
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink != 0 {
			t, err := os.Readlink(filepath.Join(cgroupRoot, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("read link: %w", err)
			}
			links = append(links, link{e.Name(), t})
		}
	}
	// Children are listed after their parents: detach in reverse order.
	for i := len(below) - 1; i >= 0; i-- {
		if err := unix.Unmount(below[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return nil, &os.PathError{Op: "umount", Path: below[i], Err: err}
		}
	}
	if pureV2 {
		if err := unix.Mount("cgroup2", cgroupRoot, "cgroup2", flags, ""); err != nil {
			return nil, &os.PathError{Op: "mount cgroup2", Path: cgroupRoot, Err: err}
		}
		layout.hierarchies = []string{cgroupRoot}
		return &layout, nil
	}
	if err := unix.Mount("huskbench-cgroup", cgroupRoot, "tmpfs", flags, "mode=755,size=1m"); err != nil {
		return nil, &os.PathError{Op: "mount tmpfs", Path: cgroupRoot, Err: err}
	}
	for _, m := range v1 {
		if err := os.MkdirAll(m.mountPoint, 0o755); err != nil {
			return nil, fmt.Errorf("mkdir hierarchy: %w", err)
		}
		data := v1MountData(m.superOpts)
		if err := unix.Mount("cgroup", m.mountPoint, "cgroup", flags, data); err != nil {
			return nil, &os.PathError{Op: "mount cgroup " + data, Path: m.mountPoint, Err: err}
		}
		layout.hierarchies = append(layout.hierarchies, m.mountPoint)
	}
	for _, l := range links {
		if err := os.Symlink(l.target, filepath.Join(cgroupRoot, l.name)); err != nil {
			return nil, fmt.Errorf("recreate cgroup link: %w", err)
		}
	}
	return &layout, nil
}

func readMountinfo() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("open mountinfo: %w", err)
	}
	defer f.Close()
	return parseMountinfo(f)
}

// cgroupProcs returns the pids in the cgroup tree at dir.
func cgroupProcs(dir string) []int {
	var pids []int
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, s := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(s); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// removeCgroupTree removes the cgroup directory tree at dir, deepest first.
func removeCgroupTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read cgroup %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			errs = append(errs, removeCgroupTree(filepath.Join(dir, e.Name())))
		}
	}
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, &os.PathError{Op: "rmdir", Path: dir, Err: err})
	}
	return errors.Join(errs...)
}

// removeCgroups removes the benchmark's cgroup (name) from every hierarchy.
// Processes still inside are container processes our runtimes started; they
// are killed by pid first.
func removeCgroups(hierarchies []string, name string) error {
	var pids []int
	for _, h := range hierarchies {
		pids = append(pids, cgroupProcs(filepath.Join(h, name))...)
	}
	for _, pid := range pids {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	var err error
	for try := 0; try < 50; try++ {
		var errs []error
		for _, h := range hierarchies {
			errs = append(errs, removeCgroupTree(filepath.Join(h, name)))
		}
		if err = errors.Join(errs...); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond) // killed tasks leave asynchronously
	}
	return err
}
