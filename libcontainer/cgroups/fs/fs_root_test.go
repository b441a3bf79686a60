package fs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups/devices"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgtest"
)

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }
func boolp(v bool) *bool   { return &v }
func u32(v uint32) *uint32 { return &v }

// newReal creates a manager under the test process's own cgroups and
// registers its destruction (with a check that nothing is left) first.
func newReal(t *testing.T, host *cgcore.Host, r *specs.LinuxResources) *Manager {
	t.Helper()
	m, err := New(cgcore.Config{Name: cgtest.Name(t), Resources: r}, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
		for k, d := range m.state.Paths {
			if _, err := os.Stat(d); err == nil {
				t.Errorf("after Destroy, %s cgroup %s still exists", k, d)
			}
		}
	})
	return m
}

func readBack(t *testing.T, dir, file string) string {
	t.Helper()
	s, err := cgcore.ReadFile(dir, file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// blockDev returns a real block device's major:minor for throttle tests.
func blockDev(t *testing.T) (int64, int64) {
	t.Helper()
	for _, d := range []string{"vda", "sda", "nvme0n1", "loop0"} {
		b, err := os.ReadFile("/sys/block/" + d + "/dev")
		if err != nil {
			continue
		}
		maj, min, _ := strings.Cut(strings.TrimSpace(string(b)), ":")
		a, _ := strconv.ParseInt(maj, 10, 64)
		c, _ := strconv.ParseInt(min, 10, 64)
		return a, c
	}
	t.Skip("requires a block device (vda, sda, nvme0n1 or loop0)")
	return 0, 0
}

func TestRealLifecycle(t *testing.T) {
	host := cgtest.RequireV1(t, "cpu", "cpuset", "memory", "pids", "freezer", "devices", "blkio")
	maj, min := blockDev(t)
	r := &specs.LinuxResources{
		CPU: &specs.LinuxCPU{
			Shares: u64(512), Period: u64(50000), Quota: i64(25000), Burst: u64(10000),
			Cpus: "0", Mems: "0", Idle: i64(0),
		},
		Memory: &specs.LinuxMemory{
			Limit: i64(256 << 20), Swap: i64(512 << 20), Reservation: i64(128 << 20),
			Swappiness: u64(10), DisableOOMKiller: boolp(true), UseHierarchy: boolp(true),
			Kernel: i64(-1),
		},
		Pids: &specs.LinuxPids{Limit: i64(64)},
		BlockIO: &specs.LinuxBlockIO{
			Weight:                  u16(500),
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: maj, Minor: min}, Rate: 1 << 20}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: maj, Minor: min}, Rate: 300}},
		},
		Devices: append([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, devices.DefaultAllowList()...),
	}
	m := newReal(t, host, r)
	start := time.Now()
	if err := m.Create(); err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Logf("Create with every resource: %s", time.Since(start))

	for _, c := range []struct{ key, file, want string }{
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_period_us", "50000"},
		{"cpu", "cpu.cfs_quota_us", "25000"},
		{"cpu", "cpu.cfs_burst_us", "10000"},
		{"cpu", "cpu.idle", "0"},
		{"cpuset", "cpuset.cpus", "0"},
		{"cpuset", "cpuset.mems", "0"},
		{"memory", "memory.limit_in_bytes", strconv.Itoa(256 << 20)},
		{"memory", "memory.memsw.limit_in_bytes", strconv.Itoa(512 << 20)},
		{"memory", "memory.soft_limit_in_bytes", strconv.Itoa(128 << 20)},
		{"memory", "memory.swappiness", "10"},
		{"memory", "memory.use_hierarchy", "1"},
		{"pids", "pids.max", "64"},
		{"blkio", "blkio.throttle.read_bps_device", fmt.Sprintf("%d:%d %d", maj, min, 1<<20)},
		{"blkio", "blkio.throttle.write_iops_device", fmt.Sprintf("%d:%d 300", maj, min)},
	} {
		if got := readBack(t, m.Path(c.key), c.file); got != c.want {
			t.Errorf("%s: got %q, want %q", c.file, got, c.want)
		}
	}
	if got := readBack(t, m.Path("blkio"), "blkio.bfq.weight"); !strings.Contains(got, "500") {
		t.Errorf("blkio.bfq.weight: got %q, want 500", got)
	}
	if got := readBack(t, m.Path("memory"), "memory.oom_control"); !strings.Contains(got, "oom_kill_disable 1") {
		t.Errorf("memory.oom_control: got %q, want oom_kill_disable 1", got)
	}
	devs := readBack(t, m.Path("devices"), "devices.list")
	for _, want := range []string{"c 1:3 rwm", "c 136:* rwm", "c *:* m", "b *:* m"} {
		if !strings.Contains(devs, want) {
			t.Errorf("devices.list = %q, missing %q", devs, want)
		}
	}
	if strings.Contains(devs, "a *:* rwm") {
		t.Errorf("devices.list = %q, still allows everything", devs)
	}

	// A single-threaded child joins through JoinFiles by writing "0".
	files := m.JoinFiles()
	script := `for f in "$@"; do echo 0 > "$f" || exit 1; done; echo joined; exec sleep 100`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, files...)...)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	buf := make([]byte, 7)
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "joined\n" {
		t.Fatalf("child did not join: %q, %v", buf, err)
	}
	pid := cmd.Process.Pid
	// Already a member everywhere: Apply must not need to write.
	if err := m.Apply(pid); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	cur, err := cgcore.ProcCgroup(pid)
	if err != nil {
		t.Fatal(err)
	}
	for k, rel := range m.state.Rel {
		if cur[k] != rel {
			t.Errorf("child's %q cgroup: got %q, want %q", k, cur[k], rel)
		}
	}
	pids, err := m.Pids()
	if err != nil || !slices.Contains(pids, pid) {
		t.Fatalf("Pids = %v, %v; want to contain %d", pids, err, pid)
	}

	st, err := m.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.Pids.Current < 1 || st.Pids.Limit != 64 || st.Memory.Usage.Limit != 256<<20 || st.Memory.Usage.Usage == 0 || len(st.CPUSet.CPUs) != 1 {
		t.Errorf("Stats: pids %+v, memory usage %+v, cpuset %v", st.Pids, st.Memory.Usage, st.CPUSet.CPUs)
	}

	// Set: raise the memory limit above the old swap limit (memsw first),
	// then lower both (limit first); change pids.
	for _, mem := range [][2]int64{{768 << 20, 1 << 30}, {64 << 20, 96 << 20}} {
		if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(mem[0]), Swap: i64(mem[1])}, Pids: &specs.LinuxPids{Limit: i64(-1)}}); err != nil {
			t.Fatalf("Set memory %v: %v", mem, err)
		}
		if got := readBack(t, m.Path("memory"), "memory.limit_in_bytes"); got != strconv.FormatInt(mem[0], 10) {
			t.Errorf("after Set, limit = %s, want %d", got, mem[0])
		}
		if got := readBack(t, m.Path("memory"), "memory.memsw.limit_in_bytes"); got != strconv.FormatInt(mem[1], 10) {
			t.Errorf("after Set, memsw = %s, want %d", got, mem[1])
		}
	}
	if got := readBack(t, m.Path("pids"), "pids.max"); got != "max" {
		t.Errorf("pids.max = %q, want max", got)
	}

	start = time.Now()
	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	t.Logf("Freeze: %s", time.Since(start))
	if p, err := m.Paused(); err != nil || !p {
		t.Errorf("Paused after Freeze = %v, %v", p, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	if p, err := m.Paused(); err != nil || p {
		t.Errorf("Paused after Thaw = %v, %v", p, err)
	}

	if err := m.Kill(unix.SIGKILL); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != unix.SIGKILL {
		t.Errorf("child after Kill: %v, want killed by SIGKILL", err)
	}

	// Load from saved state in "another process" and destroy from there.
	m2 := Load(m.State())
	start = time.Now()
	if err := m2.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	t.Logf("Destroy: %s", time.Since(start))
	if m.Exists() {
		t.Errorf("Exists after Destroy")
	}
}
