package testutil

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// RequireSystemd skips t unless systemd is the host's init (sd_booted(3): /run/systemd/system
// exists), so that --systemd-cgroup has a manager to talk to.
func RequireSystemd(t testing.TB) {
	t.Helper()
	if fi, err := os.Stat("/run/systemd/system"); err != nil || !fi.IsDir() {
		t.Skip("requires systemd as init (no /run/systemd/system; runs in the VM lane)")
	}
}

// IsCgroupV2 reports whether /sys/fs/cgroup is the cgroup v2 unified hierarchy.
func IsCgroupV2() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// CgroupDirs maps each hierarchy pid belongs to onto the host directory of its cgroup there,
// from /proc/<pid>/cgroup and the cgroup mounts in /proc/self/mountinfo: "memory" ->
// /sys/fs/cgroup/memory/<path>, "name=systemd" -> ..., and "" -> the cgroup2 directory (the
// hybrid /sys/fs/cgroup/unified one, or /sys/fs/cgroup on a v2 host). Co-mounted controllers
// ("cpu,cpuacct") get one key each. pid 0 means the caller.
func CgroupDirs(t testing.TB, pid int) map[string]string {
	t.Helper()
	mounts := cgroupMountPoints(t)
	proc := "/proc/self/cgroup"
	if pid > 0 {
		proc = "/proc/" + strconv.Itoa(pid) + "/cgroup"
	}
	data, err := os.ReadFile(proc)
	if err != nil {
		t.Fatalf("cgroup of pid %d: %v", pid, err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		keys := strings.Split(parts[1], ",")
		for _, k := range keys {
			if m, ok := mounts[k]; ok {
				out[k] = filepath.Join(m, parts[2])
			}
		}
	}
	return out
}

// cgroupMountPoints maps controller names (and "" for cgroup2) to the host's mount points.
func cgroupMountPoints(t testing.TB) map[string]string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		// id parent major:minor root mountpoint opts... - fstype source superopts
		pre, post, ok := strings.Cut(s.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || pf[3] != "/" {
			continue
		}
		switch qf[0] {
		case "cgroup2":
			out[""] = pf[4]
		case "cgroup":
			for _, o := range strings.Split(qf[2], ",") {
				switch o {
				case "rw", "ro", "relatime", "noexec", "nosuid", "nodev", "clone_children", "xattr":
				default:
					out[o] = pf[4]
				}
			}
		}
	}
	return out
}

// ReadCgroupFile returns the trimmed content of file in cgroup directory dir, failing t when
// it cannot be read.
func ReadCgroupFile(t testing.TB, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatalf("read cgroup file: %v", err)
	}
	return strings.TrimSpace(string(b))
}
