package standin

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The guests the lane boots, by the HUSK_VM_GUEST value it sets.
const (
	guestCgroup2  = "cgroup2"
	guestSystemd  = "systemd"
	guestSELinux  = "selinux"
	guestAppArmor = "apparmor"
)

// allGuests lists every guest; systemdGuests the ones that boot systemd as PID 1.
var (
	allGuests     = []string{guestCgroup2, guestSystemd, guestSELinux, guestAppArmor}
	systemdGuests = []string{guestSystemd, guestSELinux, guestAppArmor}
)

// testProfile is the AppArmor profile the guest runner loads with
// apparmor_parser before the tests start (tests/vm/guest/husk-vm-test.apparmor).
const testProfile = "husk-vm-test"

// cgroupRoot is where every guest mounts the unified hierarchy.
const cgroupRoot = "/sys/fs/cgroup"

// requireGuest skips the test unless it runs inside one of the named guests,
// and returns the guest's name.
func requireGuest(t *testing.T, guests []string) string {
	t.Helper()
	g := os.Getenv("HUSK_VM_GUEST")
	if g == "" {
		t.Skip("runs only inside a VM lane guest (HUSK_VM_GUEST is unset); see tests/vm/README.md")
	}
	if !slices.Contains(allGuests, g) {
		t.Fatalf("HUSK_VM_GUEST=%q names no known guest (want one of %v)", g, allGuests)
	}
	if !slices.Contains(guests, g) {
		t.Skipf("not applicable to guest %q (applies to %v)", g, guests)
	}
	return g
}

// run runs a command and returns its combined output, failing the test when
// it exits non-zero.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// readTrim reads a small file and trims surrounding white space.
func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return strings.TrimSpace(string(b))
}

// ownCgroup returns the unified-hierarchy path of the calling process.
func ownCgroup(t *testing.T) string {
	t.Helper()
	for _, line := range strings.Split(readTrim(t, "/proc/self/cgroup"), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(cgroupRoot, rest)
		}
	}
	t.Fatal("no 0:: line in /proc/self/cgroup: not on cgroup v2")
	return ""
}

// TestGuestReport logs what the guest is, for the lane's output.
func TestGuestReport(t *testing.T) {
	g := requireGuest(t, allGuests)
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatalf("uname: %v", err)
	}
	lsm, err := os.ReadFile("/sys/kernel/security/lsm")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read lsm list: %v", err)
	}
	t.Logf("guest %s: kernel %s, pid 1 %s, lsm %q, cgroup %s", g, unix.ByteSliceToString(u.Release[:]),
		readTrim(t, "/proc/1/comm"), strings.TrimSpace(string(lsm)), ownCgroup(t))
}

// TestCgroup2 checks that the unified hierarchy is mounted alone at
// /sys/fs/cgroup and that a child group created below the test's own group
// gets the controllers the container tests need.
func TestCgroup2(t *testing.T) {
	g := requireGuest(t, allGuests)
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		t.Fatalf("statfs %s: %v", cgroupRoot, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Fatalf("%s has filesystem magic %#x, want cgroup2 (%#x)", cgroupRoot, st.Type, unix.CGROUP2_SUPER_MAGIC)
	}
	avail := strings.Fields(readTrim(t, filepath.Join(cgroupRoot, "cgroup.controllers")))
	want := []string{"cpuset", "cpu", "io", "memory", "pids"}
	for _, c := range want {
		if !slices.Contains(avail, c) {
			t.Errorf("controller %q missing from root cgroup.controllers %v", c, avail)
		}
	}
	if g == guestCgroup2 {
		// The lane's own init enables every controller at the root.
		enabled := strings.Fields(readTrim(t, filepath.Join(cgroupRoot, "cgroup.subtree_control")))
		for _, c := range avail {
			if !slices.Contains(enabled, c) {
				t.Errorf("controller %q available but not in root cgroup.subtree_control %v", c, enabled)
			}
		}
	}

	// A child of the test's own group, removed at the end.
	parent := filepath.Join(ownCgroup(t), fmt.Sprintf("husk-vm-standin-%d", os.Getpid()))
	if g != guestCgroup2 {
		// Under systemd the test runs in a service's group, which it does
		// not own; delegate through a transient scope instead (TestSystemdScope).
		t.Logf("skipping child group creation under systemd-owned %s", ownCgroup(t))
		return
	}
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatalf("mkdir %s: %v", parent, err)
	}
	t.Cleanup(func() {
		if err := os.Remove(parent); err != nil {
			t.Errorf("remove %s: %v", parent, err)
		}
	})
	got := strings.Fields(readTrim(t, filepath.Join(parent, "cgroup.controllers")))
	for _, c := range want {
		if !slices.Contains(got, c) {
			t.Errorf("controller %q missing from %s/cgroup.controllers %v", c, parent, got)
		}
	}
	// A process moved into the child must show up there.
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	procs := filepath.Join(parent, "cgroup.procs")
	if err := os.WriteFile(procs, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatalf("move pid %d to %s: %v", cmd.Process.Pid, parent, err)
	}
	if p := readTrim(t, procs); p != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("%s = %q, want %d", procs, p, cmd.Process.Pid)
	}
	if err := os.WriteFile(filepath.Join(parent, "pids.max"), []byte("16"), 0o644); err != nil {
		t.Errorf("set pids.max: %v", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// TestSystemdScope checks that systemd is PID 1 and that a transient scope
// can be started (what husk's systemd cgroup driver asks for over D-Bus).
func TestSystemdScope(t *testing.T) {
	requireGuest(t, systemdGuests)
	if comm := readTrim(t, "/proc/1/comm"); comm != "systemd" {
		t.Fatalf("pid 1 is %q, want systemd", comm)
	}
	// Not --wait: the system is "starting" until this test's own unit ends.
	state, _ := exec.Command("systemctl", "is-system-running").Output()
	t.Logf("systemctl is-system-running: %s", bytes.TrimSpace(state))

	unit := fmt.Sprintf("husk-vm-standin-%d", os.Getpid())
	out := run(t, "systemd-run", "--scope", "--quiet", "--unit="+unit, "--property=TasksMax=32",
		"cat", "/proc/self/cgroup")
	if !strings.Contains(out, "/"+unit+".scope") {
		t.Errorf("process in transient scope reports cgroup %q, want it under %s.scope", strings.TrimSpace(out), unit)
	}
}

// TestSELinuxEnforcing checks that SELinux runs enforcing Debian's default
// policy.
func TestSELinuxEnforcing(t *testing.T) {
	requireGuest(t, []string{guestSELinux})
	if got := strings.TrimSpace(run(t, "getenforce")); got != "Enforcing" {
		t.Fatalf("getenforce = %q, want Enforcing", got)
	}
	if got := readTrim(t, "/sys/fs/selinux/enforce"); got != "1" {
		t.Errorf("/sys/fs/selinux/enforce = %q, want 1", got)
	}
	t.Logf("sestatus:\n%s", run(t, "sestatus"))
	t.Logf("test context: %s", strings.TrimRight(readTrim(t, "/proc/self/attr/current"), "\x00"))
	// The root filesystem was labelled at build time: /usr/bin carries a
	// real type, not unlabeled_t or file_t.
	b := make([]byte, 256)
	n, err := unix.Getxattr("/usr/bin/ls", "security.selinux", b)
	if err != nil {
		t.Fatalf("getxattr /usr/bin/ls security.selinux: %v", err)
	}
	if lbl := string(bytes.TrimRight(b[:n], "\x00")); !strings.Contains(lbl, ":bin_t:") {
		t.Errorf("/usr/bin/ls is labelled %q, want bin_t", lbl)
	}
}

// TestAppArmorProfile checks that AppArmor is the enabled major LSM, that the
// lane's test profile is loaded, and that a process confined by it reports it.
func TestAppArmorProfile(t *testing.T) {
	requireGuest(t, []string{guestAppArmor})
	if got := readTrim(t, "/sys/module/apparmor/parameters/enabled"); got != "Y" {
		t.Fatalf("apparmor enabled = %q, want Y", got)
	}
	status := run(t, "aa-status")
	if !strings.Contains(status, testProfile) {
		t.Fatalf("aa-status does not list %s:\n%s", testProfile, status)
	}
	out := strings.TrimSpace(run(t, "aa-exec", "-p", testProfile, "--", "cat", "/proc/self/attr/current"))
	if !strings.HasPrefix(out, testProfile) {
		t.Errorf("confined process reports %q, want profile %s", out, testProfile)
	}
}

// TestCRIUInstalled checks that criu is in the guest image for the
// checkpoint/restore tests and logs what `criu check` says of this kernel.
func TestCRIUInstalled(t *testing.T) {
	requireGuest(t, allGuests)
	t.Logf("%s", strings.TrimSpace(run(t, "criu", "--version")))
	out, err := exec.Command("criu", "check").CombinedOutput()
	t.Logf("criu check (err %v):\n%s", err, out)
}
