package fs2

import (
	"errors"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups/devices"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgtest"
)

func i64(v int64) *int64 { return &v }

func newReal(t *testing.T, host *cgcore.Host, r *specs.LinuxResources) *Manager {
	t.Helper()
	// Only the unified part of the host: on a hybrid host this exercises
	// the v2 core files (cgroup.procs, cgroup.freeze, cgroup.kill,
	// cgroup.events, PSI) and device filters without any v2 controller.
	h := &cgcore.Host{Unified: host.Unified, Own: map[string]string{cgcore.UnifiedKey: host.Own[cgcore.UnifiedKey]}}
	m, err := New(cgcore.Config{Name: cgtest.Name(t), Resources: r}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
		if m.Exists() {
			t.Errorf("after Destroy, %s still exists", m.dir())
		}
	})
	return m
}

// TestRealCore runs a process in a real v2 cgroup through the whole life
// cycle. Resource writes need v2 controllers; see TestRealResources.
func TestRealCore(t *testing.T) {
	host := cgtest.RequireCgroup2Mount(t)
	m := newReal(t, host, nil)
	if err := m.Create(); err != nil {
		t.Fatalf("Create: %v", err)
	}
	cmd := exec.Command("/bin/sh", "-c", `echo 0 > "$1" && echo joined && exec sleep 100`, "sh", m.JoinFiles()[0])
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	buf := make([]byte, 7)
	if _, err := io.ReadFull(out, buf); err != nil {
		t.Fatalf("child did not join: %v", err)
	}
	pid := cmd.Process.Pid
	if err := m.Apply(pid); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if pids, err := m.Pids(); err != nil || !slices.Equal(pids, []int{pid}) {
		t.Fatalf("Pids = %v, %v; want [%d]", pids, err, pid)
	}
	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if p, err := m.Paused(); err != nil || !p {
		t.Errorf("Paused after Freeze = %v, %v", p, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	if p, err := m.Paused(); err != nil || p {
		t.Errorf("Paused after Thaw = %v, %v", p, err)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if cgcore.Exists(m.dir(), "cpu.pressure") && st.CPU.PSI == nil {
		t.Errorf("Stats: no CPU PSI though %s/cpu.pressure exists", m.dir())
	}
	if st.CPU.Usage.Total == 0 {
		t.Errorf("Stats: cpu usage 0 (cpu.stat is a core file)")
	}
	if err := m.Kill(unix.SIGKILL); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != unix.SIGKILL {
		t.Errorf("child after Kill: %v, want killed by SIGKILL", err)
	}
	if err := Load(m.State()).Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
}

// TestRealDeviceFilter attaches the eBPF device program and checks from a
// child placed in the cgroup with CLONE_INTO_CGROUP that /dev/null opens
// and /dev/zero does not.
func TestRealDeviceFilter(t *testing.T) {
	host := cgtest.RequireCgroup2Mount(t)
	r := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rw"},
	}}
	m := newReal(t, host, r)
	if err := m.Create(); err != nil {
		t.Fatalf("Create: %v", err)
	}
	run := func(path string) error {
		fd, err := unix.Open(m.dir(), unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		cmd := exec.Command("/bin/sh", "-c", "exec 3< "+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
		return cmd.Run()
	}
	if err := run("/dev/null"); err != nil {
		t.Errorf("open /dev/null in the cgroup: %v, want success", err)
	}
	if err := run("/dev/zero"); err == nil {
		t.Errorf("open /dev/zero in the cgroup succeeded, want EPERM")
	}
	// Set replaces the program: now /dev/zero only.
	if err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "r"},
	}}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := run("/dev/zero"); err != nil {
		t.Errorf("after Set, open /dev/zero: %v, want success", err)
	}
	if err := run("/dev/null"); err == nil {
		t.Errorf("after Set, open /dev/null succeeded, want EPERM")
	}
	// The default allow-list compiles and loads.
	if err := m.Set(&specs.LinuxResources{Devices: append([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, devices.DefaultAllowList()...)}); err != nil {
		t.Fatalf("Set default allow-list: %v", err)
	}
	if err := run("/dev/zero"); err != nil {
		t.Errorf("default allow-list: open /dev/zero: %v", err)
	}
}

// TestRealResources needs a pure cgroup v2 host with the usual
// controllers delegated to husk's own cgroup's parent.
func TestRealResources(t *testing.T) {
	host := cgtest.RequireCgroup2Mount(t)
	if !host.IsUnified() {
		t.Skip("requires cgroup v2 unified hierarchy (this host is hybrid: v1 controllers plus a cgroup2 mount)")
	}
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20)},
		Pids:   &specs.LinuxPids{Limit: i64(0)},
		CPU:    &specs.LinuxCPU{Quota: i64(50000)},
	}
	m := newReal(t, host, r)
	if err := m.Create(); err != nil {
		t.Fatalf("Create: %v", err)
	}
	for file, want := range map[string]string{
		"memory.max": strconv.Itoa(64 << 20), "memory.swap.max": strconv.Itoa(32 << 20),
		"pids.max": "0", "cpu.max": "50000 100000",
	} {
		got, err := cgcore.ReadFile(m.dir(), file)
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", file, got, err, want)
		}
	}
}
