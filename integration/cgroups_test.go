package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"golang.org/x/sys/unix"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/testutil"
)

// The cgroup tests run the runtime on whatever hierarchy the host has and read the effect from
// the container's real cgroup files, found through /proc/<init>/cgroup. On this kind of host
// (cgroup v1 plus a cgroup2 mount holding only hugetlb) the v1 expectations apply; on a pure v2
// host (the VM lane) the v2 ones; with a systemd init the same tests run again through
// --systemd-cgroup.

// cgFile is one expected cgroup file content: ctrl is the hierarchy ("" for cgroup2), want the
// whole trimmed content, or a line of it when line is set.
type cgFile struct {
	ctrl, file, want string
	line             bool
}

// cgDriver says how a test places its container: plain cgroupfs nesting (the default, the
// relative cgroupsPath of testutil.NewBundle) or a systemd scope.
type cgDriver struct {
	name    string
	systemd bool
}

// cgDrivers are the drivers a cgroup test runs with: cgroupfs always, systemd as a subtest that
// skips unless systemd is init.
var cgDrivers = []cgDriver{{name: "cgroupfs"}, {name: "systemd", systemd: true}}

// newCgBundle is testutil.NewBundle for driver d: under systemd the cgroupsPath is runc's
// "slice:prefix:name" form and every runtime call gets --systemd-cgroup.
func newCgBundle(t *testing.T, d cgDriver, mutate func(*specs.Spec)) *testutil.Bundle {
	t.Helper()
	if d.systemd {
		testutil.RequireSystemd(t)
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "sleep", "120"}
		if mutate != nil {
			mutate(s)
		}
	})
	if d.systemd {
		b.GlobalArgs = []string{"--systemd-cgroup"}
		b.Spec.Linux.CgroupsPath = "system.slice:husk-test:" + b.ID
		b.WriteSpec()
	}
	return b
}

// checkCgFiles compares each expected file of the cgroup dirs holds.
func checkCgFiles(t *testing.T, dirs map[string]string, want []cgFile) {
	t.Helper()
	for _, w := range want {
		dir, ok := dirs[w.ctrl]
		if !ok {
			t.Errorf("container is in no %q hierarchy (cgroups %v)", w.ctrl, dirs)
			continue
		}
		got := testutil.ReadCgroupFile(t, dir, w.file)
		if w.line {
			if !hasLine(got, w.want) {
				t.Errorf("%s: no line %q in %q", filepath.Join(dir, w.file), w.want, got)
			}
		} else if got != w.want {
			t.Errorf("%s: got %q, want %q", filepath.Join(dir, w.file), got, w.want)
		}
	}
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }
func boolp(v bool) *bool   { return &v }
func cpuPeriod() *uint64   { return u64(100000) }
func mib(n int64) int64    { return n << 20 }
func mibs(n int64) string  { return strconv.FormatInt(mib(n), 10) }
func blockDevice(t *testing.T) (major, minor int64) {
	t.Helper()
	ents, _ := filepath.Glob("/sys/block/*/dev")
	for _, e := range ents {
		name := filepath.Base(filepath.Dir(e))
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		b, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		maj, min, _ := strings.Cut(strings.TrimSpace(string(b)), ":")
		ma, err1 := strconv.ParseInt(maj, 10, 64)
		mi, err2 := strconv.ParseInt(min, 10, 64)
		if err1 == nil && err2 == nil {
			return ma, mi
		}
	}
	t.Skip("requires a block device (none in /sys/block besides loop/ram/zram)")
	return 0, 0
}

// hostHas reports whether the cgroup directory of ctrl that the caller is in offers file:
// resources the host lacks are not tested here (a child cgroup has the same files).
func hostHas(t *testing.T, ctrl, file string) bool {
	dirs := testutil.CgroupDirs(t, 0)
	d, ok := dirs[ctrl]
	if !ok {
		return false
	}
	_, err := os.Stat(filepath.Join(d, file))
	return err == nil
}

// hostHasV2 reports whether cgroup v2 directories offer file: the test process's own one, or
// when that is the root (which lacks most controller files) any child of it.
func hostHasV2(t *testing.T, file string) bool {
	own := testutil.CgroupDirs(t, 0)[""]
	if _, err := os.Stat(filepath.Join(own, file)); err == nil {
		return true
	}
	m, _ := filepath.Glob(filepath.Join(own, "*", file))
	return len(m) > 0
}

// resourceCase is one linux.resources setting and its files on each cgroup version.
type resourceCase struct {
	name     string
	set      func(t *testing.T, r *specs.LinuxResources)
	v1, v2   []cgFile
	needs    [2]string // v1 ctrl and file the host must offer for the case to apply
	needsV2  string    // the cgroup v2 file the host must offer
	huskOnly string    // non-empty: why runc 1.1.5 does not pass this case
}

func resourceCases() []resourceCase {
	return []resourceCase{
		{
			name: "memory",
			set: func(_ *testing.T, r *specs.LinuxResources) {
				r.Memory = &specs.LinuxMemory{Limit: i64(mib(64)), Reservation: i64(mib(32)), Swap: i64(mib(96))}
			},
			v1: []cgFile{
				{ctrl: "memory", file: "memory.limit_in_bytes", want: mibs(64)},
				{ctrl: "memory", file: "memory.soft_limit_in_bytes", want: mibs(32)},
				{ctrl: "memory", file: "memory.memsw.limit_in_bytes", want: mibs(96)},
			},
			v2: []cgFile{
				{ctrl: "", file: "memory.max", want: mibs(64)},
				{ctrl: "", file: "memory.low", want: mibs(32)},
				{ctrl: "", file: "memory.swap.max", want: mibs(32)},
			},
		},
		{
			name: "memory swappiness oom",
			set: func(_ *testing.T, r *specs.LinuxResources) {
				r.Memory = &specs.LinuxMemory{Swappiness: u64(7), DisableOOMKiller: boolp(true), UseHierarchy: boolp(true)}
			},
			v1: []cgFile{
				{ctrl: "memory", file: "memory.swappiness", want: "7"},
				{ctrl: "memory", file: "memory.oom_control", want: "oom_kill_disable 1", line: true},
				{ctrl: "memory", file: "memory.use_hierarchy", want: "1"},
			},
		},
		{
			name: "cpu",
			set: func(_ *testing.T, r *specs.LinuxResources) {
				r.CPU = &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: cpuPeriod()}
			},
			v1: []cgFile{
				{ctrl: "cpu", file: "cpu.shares", want: "512"},
				{ctrl: "cpu", file: "cpu.cfs_quota_us", want: "50000"},
				{ctrl: "cpu", file: "cpu.cfs_period_us", want: "100000"},
			},
			v2: []cgFile{
				{ctrl: "", file: "cpu.weight", want: "20"}, // 1 + (512-2)*9999/262142
				{ctrl: "", file: "cpu.max", want: "50000 100000"},
			},
		},
		{
			name: "cpu burst",
			set: func(_ *testing.T, r *specs.LinuxResources) {
				r.CPU = &specs.LinuxCPU{Quota: i64(50000), Period: cpuPeriod(), Burst: u64(20000)}
			},
			v1:       []cgFile{{ctrl: "cpu", file: "cpu.cfs_burst_us", want: "20000"}},
			v2:       []cgFile{{ctrl: "", file: "cpu.max.burst", want: "20000"}},
			needs:    [2]string{"cpu", "cpu.cfs_burst_us"},
			needsV2:  "cpu.max.burst",
			huskOnly: "runc 1.1.5 predates linux.resources.cpu.burst and ignores it",
		},
		{
			name: "cpu idle",
			set: func(_ *testing.T, r *specs.LinuxResources) {
				r.CPU = &specs.LinuxCPU{Idle: i64(1)}
			},
			v1:       []cgFile{{ctrl: "cpu", file: "cpu.idle", want: "1"}},
			v2:       []cgFile{{ctrl: "", file: "cpu.idle", want: "1"}},
			needs:    [2]string{"cpu", "cpu.idle"},
			needsV2:  "cpu.idle",
			huskOnly: "runc 1.1.5 writes cpu.idle on cgroup v2 only",
		},
		{
			name: "cpu realtime",
			set: func(_ *testing.T, r *specs.LinuxResources) {
				r.CPU = &specs.LinuxCPU{RealtimeRuntime: i64(5000), RealtimePeriod: u64(100000)}
			},
			v1: []cgFile{
				{ctrl: "cpu", file: "cpu.rt_runtime_us", want: "5000"},
				{ctrl: "cpu", file: "cpu.rt_period_us", want: "100000"},
			},
			needs:    [2]string{"cpu", "cpu.rt_runtime_us"},
			huskOnly: "runc 1.1.5 gives the parents it creates no realtime budget: EINVAL",
		},
		{
			name: "memory kernel",
			set: func(_ *testing.T, r *specs.LinuxResources) {
				r.Memory = &specs.LinuxMemory{Limit: i64(mib(64)), Kernel: i64(mib(32)), KernelTCP: i64(mib(16))}
			},
			// Accepted (runc and husk warn that kernel memory limits are not applied).
			v1: []cgFile{{ctrl: "memory", file: "memory.limit_in_bytes", want: mibs(64)}},
			v2: []cgFile{{ctrl: "", file: "memory.max", want: mibs(64)}},
		},
		{
			name: "cpuset",
			set: func(_ *testing.T, r *specs.LinuxResources) {
				r.CPU = &specs.LinuxCPU{Cpus: "0", Mems: "0"}
			},
			v1: []cgFile{
				{ctrl: "cpuset", file: "cpuset.cpus", want: "0"},
				{ctrl: "cpuset", file: "cpuset.mems", want: "0"},
			},
			v2: []cgFile{
				{ctrl: "", file: "cpuset.cpus", want: "0"},
				{ctrl: "", file: "cpuset.mems", want: "0"},
			},
		},
		{
			name: "pids",
			set: func(_ *testing.T, r *specs.LinuxResources) {
				r.Pids = &specs.LinuxPids{Limit: i64(77)}
			},
			v1: []cgFile{{ctrl: "pids", file: "pids.max", want: "77"}},
			v2: []cgFile{{ctrl: "", file: "pids.max", want: "77"}},
		},
		{
			name: "pids unlimited",
			set: func(_ *testing.T, r *specs.LinuxResources) {
				r.Pids = &specs.LinuxPids{Limit: i64(-1)}
			},
			v1: []cgFile{{ctrl: "pids", file: "pids.max", want: "max"}},
			v2: []cgFile{{ctrl: "", file: "pids.max", want: "max"}},
		},
		{
			name: "blkio throttle",
			set: func(t *testing.T, r *specs.LinuxResources) {
				ma, mi := blockDevice(t)
				dev := func(rate uint64) []specs.LinuxThrottleDevice {
					d := specs.LinuxThrottleDevice{Rate: rate}
					d.Major, d.Minor = ma, mi
					return []specs.LinuxThrottleDevice{d}
				}
				r.BlockIO = &specs.LinuxBlockIO{
					ThrottleReadBpsDevice: dev(1 << 20), ThrottleWriteBpsDevice: dev(2 << 20),
					ThrottleReadIOPSDevice: dev(300), ThrottleWriteIOPSDevice: dev(400),
				}
			},
			v1: []cgFile{
				{ctrl: "blkio", file: "blkio.throttle.read_bps_device", want: "@ 1048576", line: true},
				{ctrl: "blkio", file: "blkio.throttle.write_bps_device", want: "@ 2097152", line: true},
				{ctrl: "blkio", file: "blkio.throttle.read_iops_device", want: "@ 300", line: true},
				{ctrl: "blkio", file: "blkio.throttle.write_iops_device", want: "@ 400", line: true},
			},
			v2: []cgFile{{ctrl: "", file: "io.max", want: "@ rbps=1048576 wbps=2097152 riops=300 wiops=400", line: true}},
		},
		{
			name: "blkio weight",
			set: func(_ *testing.T, r *specs.LinuxResources) {
				r.BlockIO = &specs.LinuxBlockIO{Weight: u16(300)}
			},
			v1:      []cgFile{{ctrl: "blkio", file: "blkio.weight", want: "300"}},
			v2:      []cgFile{{ctrl: "", file: "io.bfq.weight", want: "default 300", line: true}},
			needs:   [2]string{"blkio", "blkio.weight"},
			needsV2: "io.bfq.weight",
		},
		{
			name: "devices",
			set: func(_ *testing.T, r *specs.LinuxResources) {
				r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(11), Access: "r"})
			},
			v1: []cgFile{
				{ctrl: "devices", file: "devices.list", want: "c 1:11 r", line: true},
				{ctrl: "devices", file: "devices.list", want: "c 1:3 rwm", line: true},
			},
		},
	}
}

// cgroupVersion picks the expectations that apply on this host.
func (c resourceCase) files() []cgFile {
	if testutil.IsCgroupV2() {
		return c.v2
	}
	return c.v1
}

func TestCgroupResources(t *testing.T) {
	testutil.RequireRoot(t)
	for _, d := range cgDrivers {
		t.Run(d.name, func(t *testing.T) {
			if d.systemd {
				testutil.RequireSystemd(t)
			}
			for _, c := range resourceCases() {
				t.Run(c.name, func(t *testing.T) {
					want := c.files()
					if len(want) == 0 {
						t.Skipf("%s has no files on this cgroup version", c.name)
					}
					if testutil.IsCgroupV2() {
						if c.needsV2 != "" && !hostHasV2(t, c.needsV2) {
							t.Skipf("host cgroup v2 offers no %s", c.needsV2)
						}
					} else if c.needs[0] != "" && !hostHas(t, c.needs[0], c.needs[1]) {
						t.Skipf("host cgroup %s has no %s", c.needs[0], c.needs[1])
					}
					if c.huskOnly != "" {
						testutil.RequireHusk(t) // see huskOnly
					}
					b := newCgBundle(t, d, func(s *specs.Spec) { c.set(t, s.Linux.Resources) })
					pid := b.Create()
					dirs := testutil.CgroupDirs(t, pid)
					checkCgFiles(t, dirs, expandDevice(t, want))
				})
			}
		})
	}
}

// expandDevice replaces "@" in wanted lines by the test block device's "major:minor".
func expandDevice(t *testing.T, want []cgFile) []cgFile {
	out := make([]cgFile, len(want))
	for i, w := range want {
		if strings.Contains(w.want, "@") {
			ma, mi := blockDevice(t)
			w.want = strings.Replace(w.want, "@", strconv.FormatInt(ma, 10)+":"+strconv.FormatInt(mi, 10), 1)
		}
		out[i] = w
	}
	return out
}

// cgroupDirsUnder returns, for every hierarchy the test process is in, the directory rel would
// have below the test process's own cgroup there.
func cgroupDirsUnder(t *testing.T, rel string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, d := range testutil.CgroupDirs(t, 0) {
		if k == "" && isUnifiedOnly() && d != "/sys/fs/cgroup" {
			// On a cgroup v2 host a relative path nests under the parent of the caller's
			// cgroup, which (holding the caller) cannot pass controllers down.
			d = filepath.Dir(d)
		}
		out[k] = filepath.Join(d, rel)
	}
	return out
}

// isUnifiedOnly reports whether /sys/fs/cgroup is the cgroup2 hierarchy itself.
func isUnifiedOnly() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// requireGone fails t for each directory of dirs that still exists.
func requireGone(t *testing.T, what string, dirs map[string]string) {
	t.Helper()
	for k, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s: %s cgroup %s still exists", what, k, d)
		}
	}
}

// removeCgroupDirs is a cleanup for cgroups a test names itself: it removes what the runtime
// left behind, deepest first (only empty directories can go).
func removeCgroupDirs(t *testing.T, rels ...string) {
	t.Cleanup(func() {
		for i := len(rels) - 1; i >= 0; i-- {
			for _, d := range cgroupDirsUnder(t, rels[i]) {
				_ = os.Remove(d)
			}
		}
	})
}

func TestCgroupPlacement(t *testing.T) {
	testutil.RequireRoot(t)
	nest := testutil.CgroupParent() + "-nest"
	for _, c := range []struct {
		name    string
		path    func(id string) string // linux.cgroupsPath
		rel     func(id string) string // where it lands below our own cgroup
		created []string               // parents the runtime makes (removed on delete by husk)
	}{
		{
			name: "relative",
			path: func(id string) string { return nest + "/a/" + id },
			rel:  func(id string) string { return nest + "/a/" + id },
		},
		{
			name: "empty",
			path: func(string) string { return "" },
			rel:  func(id string) string { return id },
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "120"} })
			b.Spec.Linux.CgroupsPath = c.path(b.ID)
			b.WriteSpec()
			rel := c.rel(b.ID)
			removeCgroupDirs(t, nest, nest+"/a", rel)
			pid := b.Create()
			want := cgroupDirsUnder(t, rel)
			got := testutil.CgroupDirs(t, pid)
			for k, w := range want {
				if k == "" && !testutil.IsCgroupV2() {
					continue // the hybrid cgroup2 mount: runc 1.1.5 does not place the init there
				}
				if got[k] != w {
					t.Errorf("%s cgroup of the init: got %q, want %q", k, got[k], w)
				}
			}
			b.MustHusk("delete", "--force", b.ID)
			requireGone(t, "after delete", want)
			if c.name == "relative" && testutil.IsHusk() {
				// runc 1.1.5 removes only the leaf; husk removes the parents it made.
				requireGone(t, "parents after delete", cgroupDirsUnder(t, nest))
			}
		})
	}
}

// TestCgroupSharedParent: two containers under a parent cgroup the first one's create made.
// Deleting the first must leave the second's cgroup (and so the parent) alone.
func TestCgroupSharedParent(t *testing.T) {
	testutil.RequireRoot(t)
	nest := testutil.CgroupParent() + "-shared"
	removeCgroupDirs(t, nest)
	var bs []*testutil.Bundle
	for i := 0; i < 2; i++ {
		b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "120"} })
		b.Spec.Linux.CgroupsPath = nest + "/" + b.ID
		b.WriteSpec()
		b.Create()
		bs = append(bs, b)
	}
	second := cgroupDirsUnder(t, nest+"/"+bs[1].ID)
	bs[0].MustHusk("delete", "--force", bs[0].ID)
	requireGone(t, "first container's cgroup after its delete", cgroupDirsUnder(t, nest+"/"+bs[0].ID))
	for k, d := range second {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s cgroup of the second container removed by the first one's delete: %v", k, err)
		}
	}
	if st := bs[1].Status(); st != "created" {
		t.Errorf("second container: status %q, want created", st)
	}
	bs[1].MustHusk("delete", "--force", bs[1].ID)
	requireGone(t, "second container's cgroup after its delete", second)
}

func TestCgroupRemovedAfterFailedCreate(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "sleep", "120"}
		// Fails inside the init, after the cgroup was made and joined.
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/nonexistent-husk-source", Options: []string{"bind"}})
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: i64(50)}
	})
	if r := b.Husk("create", "--bundle", b.Dir, b.ID); r.Code == 0 {
		t.Fatal("create with a missing bind source succeeded")
	}
	requireGone(t, "after failed create", cgroupDirsUnder(t, b.Spec.Linux.CgroupsPath))
	if st := b.Status(); st != "" {
		t.Errorf("container exists after failed create, status %q", st)
	}
}

// startEvents runs `events args... ID` in the background and returns its stdout lines.
func startEvents(t *testing.T, b *testutil.Bundle, args ...string) <-chan string {
	t.Helper()
	argv := append(append([]string{"--root", b.Root}, b.GlobalArgs...), "events")
	cmd := exec.Command(testutil.Runtime(), append(append(argv, args...), b.ID)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

type eventEnvelope struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Data json.RawMessage `json:"data"`
}

func TestCgroupMemoryOOM(t *testing.T) {
	testutil.RequireRoot(t)
	for _, d := range cgDrivers {
		t.Run(d.name, func(t *testing.T) {
			b := newCgBundle(t, d, func(s *specs.Spec) {
				s.Process.Args = []string{"/probe", "alloc", "256"}
				s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: i64(mib(32)), Swap: i64(mib(32))}
			})
			pid := b.Create()
			dirs := testutil.CgroupDirs(t, pid)
			events := startEvents(t, b)
			time.Sleep(200 * time.Millisecond) // let events register for OOM notifications
			b.MustHusk("start", b.ID)
			deadline := time.After(30 * time.Second)
			for got := false; !got; {
				select {
				case l, ok := <-events:
					if !ok {
						if d.name == "systemd" {
							// systemd may remove the scope (its last process was just killed)
							// before husk reads memory.events; the kill itself is checked below
							// through the container's status.
							t.Log("events ended before reporting the OOM kill: systemd removed the scope first")
							got = true
							break
						}
						t.Fatal("events exited without reporting an OOM kill")
					}
					var e eventEnvelope
					if err := json.Unmarshal([]byte(l), &e); err != nil {
						t.Fatalf("events line %q: %v", l, err)
					}
					if e.Type == "oom" {
						got = true
						if e.ID != b.ID {
							t.Errorf("oom event id: got %q, want %q", e.ID, b.ID)
						}
					}
				case <-deadline:
					t.Fatal("no oom event within 30s")
				}
			}
			b.WaitStatus("stopped", 10*time.Second)
			if d.name == "systemd" {
				// systemd removes a scope, cgroup included, as soon as its last process is
				// gone: the event above is the evidence.
				return
			}
			if testutil.IsCgroupV2() {
				checkCgFiles(t, dirs, []cgFile{{ctrl: "", file: "memory.events", want: "oom_kill 1", line: true}})
			} else {
				checkCgFiles(t, dirs, []cgFile{{ctrl: "memory", file: "memory.oom_control", want: "oom_kill 1", line: true}})
			}
		})
	}
}

func TestCgroupEventsStats(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "spin", "120"} })
	b.Create()
	b.MustHusk("start", b.ID)
	time.Sleep(200 * time.Millisecond)
	out := b.MustHusk("events", "--stats", b.ID)
	var e eventEnvelope
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("events --stats output %q: %v", out, err)
	}
	if e.Type != "stats" || e.ID != b.ID {
		t.Errorf("envelope: got type %q id %q, want stats %q", e.Type, e.ID, b.ID)
	}
	var data struct {
		CPU struct {
			Usage struct {
				Total uint64 `json:"total"`
			} `json:"usage"`
		} `json:"cpu"`
		Memory struct {
			Usage struct {
				Usage uint64 `json:"usage"`
				Limit uint64 `json:"limit"`
			} `json:"usage"`
		} `json:"memory"`
		Pids struct {
			Current uint64 `json:"current"`
		} `json:"pids"`
	}
	if err := json.Unmarshal(e.Data, &data); err != nil {
		t.Fatalf("stats data %s: %v", e.Data, err)
	}
	if data.CPU.Usage.Total == 0 {
		t.Errorf("cpu.usage.total is 0 for a spinning container: %s", e.Data)
	}
	if data.Memory.Usage.Usage == 0 || data.Memory.Usage.Limit == 0 {
		t.Errorf("memory.usage: got %+v, want usage and limit > 0", data.Memory.Usage)
	}
	if data.Pids.Current < 1 {
		t.Errorf("pids.current: got %d, want >= 1", data.Pids.Current)
	}
	// Streaming: a stats envelope every --interval.
	lines := startEvents(t, b, "--interval", "100ms")
	for i := 0; i < 2; i++ {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("events --interval exited early")
			}
			if err := json.Unmarshal([]byte(l), &e); err != nil || e.Type != "stats" || e.ID != b.ID || len(e.Data) == 0 {
				t.Errorf("events --interval line %q: want a stats envelope for %s (%v)", l, b.ID, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no stats from events --interval 100ms within 10s")
		}
	}
}

func TestCgroupPidsLimit(t *testing.T) {
	testutil.RequireRoot(t)
	const limit = 30
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "sleep", "120"}
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: i64(limit)}
	})
	pid := b.Create()
	b.MustHusk("start", b.ID)
	out := b.MustHusk("exec", b.ID, "/probe", "forkbomb", "500")
	var n int
	var msg string
	if _, err := fmt.Sscanf(out, "forked %d: %s", &n, &msg); err != nil {
		t.Fatalf("forkbomb output %q: %v", out, err)
	}
	if n >= limit || !strings.Contains(out, "resource temporarily unavailable") {
		t.Errorf("forkbomb under pids.max %d: %q, want fewer than %d forks and EAGAIN", limit, out, limit)
	}
	dirs := testutil.CgroupDirs(t, pid)
	ctrl := "pids"
	if testutil.IsCgroupV2() {
		ctrl = ""
	}
	if cur, _ := strconv.Atoi(testutil.ReadCgroupFile(t, dirs[ctrl], "pids.current")); cur > limit || cur < n {
		t.Errorf("pids.current: got %d, want %d..%d", cur, n, limit)
	}
	if ev := testutil.ReadCgroupFile(t, dirs[ctrl], "pids.events"); ev == "max 0" {
		t.Errorf("pids.events: got %q, want a non-zero max count", ev)
	}
}

// readCounter reads the probe counter file, or -1.
func readCounter(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}

// waitCounterPast waits until the counter passes n.
func waitCounterPast(t *testing.T, path string, n int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c := readCounter(path); c > n {
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("counter %s did not pass %d within 5s", path, n)
	return 0
}

func TestCgroupPauseResume(t *testing.T) {
	testutil.RequireRoot(t)
	for _, d := range cgDrivers {
		t.Run(d.name, func(t *testing.T) {
			b := newCgBundle(t, d, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "counter", "/tmp/counter"} })
			pid := b.Create()
			b.MustHusk("start", b.ID)
			counter := filepath.Join(b.Rootfs, "tmp", "counter")
			waitCounterPast(t, counter, 0)
			b.MustHusk("pause", b.ID)
			if st := b.Status(); st != "paused" {
				t.Errorf("status after pause: got %q, want paused", st)
			}
			dirs := testutil.CgroupDirs(t, pid)
			if testutil.IsCgroupV2() {
				checkCgFiles(t, dirs, []cgFile{{ctrl: "", file: "cgroup.freeze", want: "1"}})
			} else {
				checkCgFiles(t, dirs, []cgFile{{ctrl: "freezer", file: "freezer.state", want: "FROZEN"}})
			}
			if state := procState(t, pid); state != "S" && state != "D" {
				t.Errorf("frozen init state: got %q", state)
			}
			before := readCounter(counter)
			time.Sleep(600 * time.Millisecond)
			if after := readCounter(counter); after != before {
				t.Errorf("counter moved while paused: %d -> %d", before, after)
			}
			if r := b.Husk("exec", b.ID, "/probe", "hostname"); r.Code == 0 {
				t.Error("exec into a paused container succeeded without --ignore-paused")
			} else if !strings.Contains(r.Stderr, "paused") {
				t.Errorf("exec into a paused container: error %q does not say paused", r.Stderr)
			}
			if r := b.Husk("pause", b.ID); r.Code == 0 {
				t.Error("second pause succeeded")
			}
			// --ignore-paused: the exec is let in and runs once the container thaws.
			execDone := make(chan testutil.Result, 1)
			go func() { execDone <- runtimeCmd(b, "exec", "--ignore-paused", b.ID, "/probe", "hostname") }()
			time.Sleep(500 * time.Millisecond)
			b.MustHusk("resume", b.ID)
			if st := b.Status(); st != "running" {
				t.Errorf("status after resume: got %q, want running", st)
			}
			waitCounterPast(t, counter, before)
			select {
			case r := <-execDone:
				if r.Code != 0 {
					t.Errorf("exec --ignore-paused: exit %d: %s", r.Code, r.Stderr)
				}
			case <-time.After(20 * time.Second):
				t.Error("exec --ignore-paused did not finish after resume")
			}
			if r := b.Husk("resume", b.ID); r.Code == 0 {
				t.Error("resume of a running container succeeded")
			}
		})
	}
}

// TestCgroupPauseCreated: a created container can be paused, as in runc: it then reads as
// paused, resumes to created, starts after that, and delete --force removes it while paused.
func TestCgroupPauseCreated(t *testing.T) {
	testutil.RequireRoot(t)
	for _, d := range cgDrivers {
		t.Run(d.name, func(t *testing.T) {
			b := newCgBundle(t, d, nil)
			pid := b.Create()
			b.MustHusk("pause", b.ID)
			if st := b.Status(); st != "paused" {
				t.Errorf("status of a created container after pause: got %q, want paused", st)
			}
			b.MustHusk("resume", b.ID)
			if st := b.Status(); st != "created" {
				t.Errorf("status after resume: got %q, want created", st)
			}
			b.MustHusk("start", b.ID)
			waitCmdline(t, pid, b.Spec.Process.Args)

			c := newCgBundle(t, d, nil)
			cpid := c.Create()
			c.MustHusk("pause", c.ID)
			c.MustHusk("delete", "--force", c.ID)
			if st := c.Status(); st != "" {
				t.Errorf("paused created container after delete --force: status %q", st)
			}
			if !waitGone(cpid, 5*time.Second) {
				t.Errorf("init %d of the deleted paused container still runs", cpid)
			}
		})
	}
}

// TestPsStopped: ps of a stopped container lists no process and succeeds, as runc's does.
func TestPsStopped(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} })
	pid := startSleeper(t, b)
	b.MustHusk("kill", b.ID, "KILL")
	b.WaitStatus("stopped", 10*time.Second)
	if !waitGone(pid, 5*time.Second) {
		t.Fatalf("init %d still runs after SIGKILL", pid)
	}
	if out := strings.TrimSpace(b.MustHusk("ps", "-f", "json", b.ID)); out != "[]" && out != "null" {
		t.Errorf("ps -f json of a stopped container: %q, want no pids", out)
	}
	if lines := strings.Split(strings.TrimSpace(b.MustHusk("ps", b.ID)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "PID") {
		t.Errorf("ps of a stopped container: %q, want the header alone", lines)
	}
}

// runtimeCmd runs the runtime like b.Husk but is safe to call from any goroutine: it never
// fails the test itself.
func runtimeCmd(b *testutil.Bundle, args ...string) testutil.Result {
	argv := append(append([]string{"--root", b.Root}, b.GlobalArgs...), args...)
	cmd := exec.Command(testutil.Runtime(), argv...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return testutil.Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: code}
}

// procState returns the state letter of /proc/<pid>/stat.
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+3 > len(s) {
		t.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return s[i+2 : i+3]
}

func TestCgroupDevices(t *testing.T) {
	testutil.RequireRoot(t)
	// Char major 42 has no driver ("for demo/sample use"): opening 42:N gives ENXIO when the
	// device cgroup lets it through and EPERM when it does not, with no privilege check of
	// the driver's own (as /dev/kmsg or /dev/mem have) to muddle the answer.
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "sleep", "120"}
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
			specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(42), Minor: i64(1), Access: "rw"})
	})
	// Nodes made on the host inside the rootfs (not under the container's /dev tmpfs): the
	// device cgroup is all that stands between the container and them.
	for _, n := range []struct {
		name         string
		major, minor uint32
	}{{"denied-node", 42, 0}, {"allowed-node", 42, 1}, {"null-node", 1, 3}} {
		if err := unix.Mknod(filepath.Join(b.Rootfs, n.name), unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			t.Fatalf("mknod %s: %v", n.name, err)
		}
	}
	pid := b.Create()
	b.MustHusk("start", b.ID)
	for _, c := range []struct{ node, want string }{
		{"/null-node", "ok\n"},        // runc's default allow-list
		{"/allowed-node", "errno=6 "}, // allowed by the config: reaches the (absent) driver
		{"/denied-node", "errno=1 "},  // no rule: EPERM from the device cgroup
	} {
		r := b.Husk("exec", b.ID, "/probe", "open", c.node)
		if !strings.HasPrefix(r.Stdout, c.want) {
			t.Errorf("open %s: got %q (exit %d), want %q", c.node, r.Stdout, r.Code, c.want)
		}
	}
	if !testutil.IsCgroupV2() {
		list := testutil.ReadCgroupFile(t, testutil.CgroupDirs(t, pid)["devices"], "devices.list")
		if hasLine(list, "a *:* rwm") || strings.Contains(list, "c 42:0 ") || !hasLine(list, "c 42:1 rw") {
			t.Errorf("devices.list: want c 42:1 rw and nothing that allows c 42:0:\n%s", list)
		}
	}
}

// TestCgroupDeviceDenyRule: a node made through linux.devices exists in the container, but a
// linux.resources.devices deny rule for it keeps it from being opened.
func TestCgroupDeviceDenyRule(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "sleep", "120"}
		s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/husk-dev", Type: "c", Major: 42, Minor: 0, FileMode: fileMode(0o666)})
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
			specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: i64(42), Minor: i64(0), Access: "rwm"})
	})
	pid := b.Create()
	b.MustHusk("start", b.ID)
	if got := b.MustHusk("exec", b.ID, "/probe", "stat", "/dev/husk-dev"); !strings.Contains(got, "rdev=42:0") {
		t.Errorf("linux.devices node: got %q, want rdev 42:0", got)
	}
	if r := b.Husk("exec", b.ID, "/probe", "open", "/dev/husk-dev"); r.Code == 0 || !strings.HasPrefix(r.Stdout, "errno=1 ") {
		t.Errorf("open a denied linux.devices node: exit %d %q, want EPERM", r.Code, r.Stdout)
	}
	if got := b.MustHusk("exec", b.ID, "/probe", "open", "/dev/null"); got != "ok\n" {
		t.Errorf("open /dev/null: got %q, want ok", got)
	}
	if !testutil.IsCgroupV2() {
		list := testutil.ReadCgroupFile(t, testutil.CgroupDirs(t, pid)["devices"], "devices.list")
		if strings.Contains(list, "c 42:0 ") || !hasLine(list, "c 1:3 rwm") {
			t.Errorf("devices.list: want c 1:3 and no c 42:0:\n%s", list)
		}
	}
}

func fileMode(m os.FileMode) *os.FileMode { return &m }

func TestCgroupCPUQuotaThrottles(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "sleep", "120"}
		s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: i64(10000), Period: u64(100000)}
	})
	pid := b.Create()
	b.MustHusk("start", b.ID)
	start := time.Now()
	b.MustHusk("exec", b.ID, "/probe", "spin", "1")
	elapsed := time.Since(start)
	dirs := testutil.CgroupDirs(t, pid)
	var stat map[string]int64
	if testutil.IsCgroupV2() {
		stat = kvFile(t, dirs[""], "cpu.stat")
	} else {
		stat = kvFile(t, dirs["cpu"], "cpu.stat")
	}
	if stat["nr_throttled"] == 0 {
		t.Errorf("cpu.stat after 1s of spinning under a 10%% quota: nr_throttled is 0 (%v)", stat)
	}
	t.Logf("spin 1s took %v, cpu.stat %v", elapsed, stat)
}

// kvFile parses a cgroup "key value" file.
func kvFile(t *testing.T, dir, file string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, l := range strings.Split(testutil.ReadCgroupFile(t, dir, file), "\n") {
		k, v, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err == nil {
			out[k] = n
		}
	}
	return out
}

// cgFilesV is the v1 or v2 expectation, whichever applies here.
func cgFilesV(v1, v2 []cgFile) []cgFile {
	if testutil.IsCgroupV2() {
		return v2
	}
	return v1
}

func TestCgroupUpdate(t *testing.T) {
	testutil.RequireRoot(t)
	for _, d := range cgDrivers {
		t.Run(d.name, func(t *testing.T) {
			b := newCgBundle(t, d, func(s *specs.Spec) {
				s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: i64(mib(64)), Swap: i64(mib(64))}
				s.Linux.Resources.Pids = &specs.LinuxPids{Limit: i64(40)}
			})
			pid := b.Create()
			b.MustHusk("start", b.ID)
			dirs := testutil.CgroupDirs(t, pid)

			b.MustHusk("update", "--memory", "100m", "--memory-swap", "200m", "--memory-reservation", "50m",
				"--cpu-quota", "20000", "--cpu-period", "100000", "--cpu-share", "256",
				"--cpuset-cpus", "0", "--cpuset-mems", "0", "--pids-limit", "50", b.ID)
			checkCgFiles(t, dirs, cgFilesV([]cgFile{
				{ctrl: "memory", file: "memory.limit_in_bytes", want: mibs(100)},
				{ctrl: "memory", file: "memory.memsw.limit_in_bytes", want: mibs(200)},
				{ctrl: "memory", file: "memory.soft_limit_in_bytes", want: mibs(50)},
				{ctrl: "cpu", file: "cpu.cfs_quota_us", want: "20000"},
				{ctrl: "cpu", file: "cpu.cfs_period_us", want: "100000"},
				{ctrl: "cpu", file: "cpu.shares", want: "256"},
				{ctrl: "cpuset", file: "cpuset.cpus", want: "0"},
				{ctrl: "pids", file: "pids.max", want: "50"},
			}, []cgFile{
				{ctrl: "", file: "memory.max", want: mibs(100)},
				{ctrl: "", file: "memory.swap.max", want: mibs(100)},
				{ctrl: "", file: "memory.low", want: mibs(50)},
				{ctrl: "", file: "cpu.max", want: "20000 100000"},
				{ctrl: "", file: "cpu.weight", want: "10"}, // 1 + (256-2)*9999/262142
				{ctrl: "", file: "cpuset.cpus", want: "0"},
				{ctrl: "", file: "pids.max", want: "50"},
			}))

			res := filepath.Join(b.Dir, "resources.json")
			if err := os.WriteFile(res, []byte(`{"memory":{"limit":134217728,"swap":268435456},"pids":{"limit":60}}`), 0o644); err != nil {
				t.Fatal(err)
			}
			b.MustHusk("update", "-r", res, b.ID)
			want := cgFilesV([]cgFile{
				{ctrl: "memory", file: "memory.limit_in_bytes", want: mibs(128)},
				{ctrl: "memory", file: "memory.memsw.limit_in_bytes", want: mibs(256)},
				{ctrl: "pids", file: "pids.max", want: "60"},
			}, []cgFile{
				{ctrl: "", file: "memory.max", want: mibs(128)},
				{ctrl: "", file: "memory.swap.max", want: mibs(128)},
				{ctrl: "", file: "pids.max", want: "60"},
			})
			checkCgFiles(t, dirs, want)
			if r := b.HuskIn([]byte(`{"pids":{"limit":70}}`), "update", "-r", "-", b.ID); r.Code != 0 {
				t.Errorf("update -r -: exit %d: %s", r.Code, r.Stderr)
			}
			checkCgFiles(t, dirs, []cgFile{cgFilesV(
				[]cgFile{{ctrl: "pids", file: "pids.max", want: "70"}},
				[]cgFile{{ctrl: "", file: "pids.max", want: "70"}})[0]})

			t.Run("recorded in state", func(t *testing.T) {
				testutil.RequireHusk(t) // reads husk's state.json; runc keeps its own layout
				var st struct {
					Config specs.Spec `json:"config"`
				}
				data, err := os.ReadFile(filepath.Join(b.Root, b.ID, "state.json"))
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(data, &st); err != nil {
					t.Fatal(err)
				}
				r := st.Config.Linux.Resources
				if r.Memory == nil || r.Memory.Limit == nil || *r.Memory.Limit != mib(128) ||
					r.Pids == nil || r.Pids.Limit == nil || *r.Pids.Limit != 70 ||
					r.CPU == nil || r.CPU.Quota == nil || *r.CPU.Quota != 20000 || r.CPU.Cpus != "0" {
					t.Errorf("state.json resources after update: %s", mustJSON(r))
				}
			})

			t.Run("invalid values", func(t *testing.T) {
				for _, c := range []struct {
					name     string
					args     []string
					stdin    string
					field    string
					huskOnly string
				}{
					{name: "cpuset string", args: []string{"--cpuset-cpus", "0-x"}, field: "cpus"},
					{name: "negative memory", args: []string{"--memory", "-5"}, field: "memory"},
					{name: "not a number", args: []string{"--pids-limit", "many"}, field: "pids-limit"},
					{
						name: "all or nothing", stdin: `{"pids":{"limit":90},"cpu":{"cpus":"0-x"}}`, field: "cpus",
						huskOnly: "runc 1.1.5 writes pids before it fails on the cpuset",
					},
					{
						name: "swap below limit", stdin: `{"memory":{"limit":268435456,"swap":134217728}}`, field: "swap",
						huskOnly: "runc 1.1.5 leaves this to the kernel, which names no field",
					},
				} {
					t.Run(c.name, func(t *testing.T) {
						if c.huskOnly != "" {
							testutil.RequireHusk(t) // see huskOnly
						}
						args := append([]string{"update"}, c.args...)
						var r testutil.Result
						if c.stdin != "" {
							r = b.HuskIn([]byte(c.stdin), append(args, "-r", "-", b.ID)...)
						} else {
							r = b.Husk(append(args, b.ID)...)
						}
						if r.Code == 0 {
							t.Fatalf("update %v succeeded", c.args)
						}
						if !strings.Contains(r.Stderr, c.field) {
							t.Errorf("update error %q does not name %q", r.Stderr, c.field)
						}
						checkCgFiles(t, dirs, want[:1])
						checkCgFiles(t, dirs, []cgFile{cgFilesV(
							[]cgFile{{ctrl: "pids", file: "pids.max", want: "70"}},
							[]cgFile{{ctrl: "", file: "pids.max", want: "70"}})[0]})
					})
				}
			})

			b.MustHusk("kill", b.ID, "KILL")
			b.WaitStatus("stopped", 5*time.Second)
			if r := b.Husk("update", "--pids-limit", "80", b.ID); r.Code == 0 {
				t.Error("update of a stopped container succeeded")
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// alive reports whether pid exists and is not a zombie.
func alive(t *testing.T, pid int) bool {
	s := procState(t, pid)
	return s != "" && s != "Z" && s != "X"
}

// withoutNamespace drops namespace typ from s: the container shares the host's.
func withoutNamespace(s *specs.Spec, typ specs.LinuxNamespaceType) {
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == typ })
}

// startWithChildren runs a container in the host pid namespace (so that the init's death
// does not take the others along) whose init has two background children, and returns the
// pids of all three from `ps -f json`.
func startWithChildren(t *testing.T) (*testutil.Bundle, []int) {
	t.Helper()
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/bin/sh", "-c", "sleep 300 & sleep 300 & exec /probe sleep 300"}
		withoutNamespace(s, specs.PIDNamespace)
	})
	pid := b.Create()
	b.MustHusk("start", b.ID)
	var pids []int
	deadline := time.Now().Add(5 * time.Second)
	for len(pids) < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		pids = nil
		if err := json.Unmarshal([]byte(b.MustHusk("ps", "-f", "json", b.ID)), &pids); err != nil {
			t.Fatal(err)
		}
	}
	if len(pids) != 3 || !slices.Contains(pids, pid) {
		t.Fatalf("ps -f json: got %v, want the init %d and two sleeps", pids, pid)
	}
	for _, p := range pids {
		t.Cleanup(func() {
			if alive(t, p) {
				_ = unix.Kill(p, unix.SIGKILL)
			}
		})
	}
	return b, pids
}

func TestCgroupPsAndKillAll(t *testing.T) {
	testutil.RequireRoot(t)
	b, pids := startWithChildren(t)
	table := b.MustHusk("ps", b.ID)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "PID") {
		t.Errorf("ps table: got %q, want a header and 3 rows", table)
	}
	for _, p := range pids {
		if !strings.Contains(table, " "+strconv.Itoa(p)+" ") {
			t.Errorf("ps table lacks pid %d:\n%s", p, table)
		}
	}
	if out := b.MustHusk("ps", b.ID, "-o", "pid,comm"); !strings.Contains(out, "sleep") {
		t.Errorf("ps with ps options: got %q", out)
	}
	b.MustHusk("kill", "-a", b.ID, "TERM")
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range pids {
		for alive(t, p) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(t, p) {
			t.Errorf("pid %d alive after kill -a TERM", p)
		}
	}
}

func TestCgroupDeleteKillsLeftovers(t *testing.T) {
	testutil.RequireRoot(t)
	b, pids := startWithChildren(t)
	st := b.State()
	initPid := int(st["pid"].(float64))
	dirs := testutil.CgroupDirs(t, initPid)
	b.MustHusk("kill", b.ID, "KILL")
	b.WaitStatus("stopped", 5*time.Second)
	for _, p := range pids {
		if p != initPid && !alive(t, p) {
			t.Fatalf("sleep %d died with the init; the test needs leftovers", p)
		}
	}
	b.MustHusk("delete", b.ID)
	for _, p := range pids {
		if alive(t, p) {
			t.Errorf("pid %d alive after delete", p)
		}
	}
	requireGone(t, "after delete", dirs)
}

func TestCgroupNamespace(t *testing.T) {
	testutil.RequireRoot(t)
	t.Run("new", func(t *testing.T) {
		b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "120"} })
		pid := b.Create()
		b.MustHusk("start", b.ID)
		if mustReadlink(t, "/proc/self/ns/cgroup") == mustReadlink(t, "/proc/"+strconv.Itoa(pid)+"/ns/cgroup") {
			t.Error("init shares the host cgroup namespace")
		}
		own := b.MustHusk("exec", b.ID, "/probe", "cat", "/proc/self/cgroup")
		for _, l := range strings.Split(strings.TrimSpace(own), "\n") {
			if !strings.HasSuffix(l, ":/") {
				t.Errorf("/proc/self/cgroup inside: %q, want every line to end in \":/\"", l)
			}
		}
		if r := b.Husk("exec", b.ID, "/probe", "mkdir", cgroupMkdirTarget()); r.Code == 0 || !strings.HasPrefix(r.Stdout, "errno=30 ") {
			t.Errorf("mkdir under /sys/fs/cgroup inside: exit %d %q, want EROFS", r.Code, r.Stdout)
		}
		if ls := b.MustHusk("exec", b.ID, "/probe", "ls", cgroupListTarget()); !strings.Contains(ls, "cgroup.procs") {
			t.Errorf("container's own cgroup not visible at %s: %q", cgroupListTarget(), ls)
		}
	})
	t.Run("host", func(t *testing.T) {
		b := testutil.NewBundle(t, func(s *specs.Spec) {
			s.Process.Args = []string{"/probe", "cat", "/proc/self/cgroup"}
			withoutNamespace(s, specs.CgroupNamespace)
		})
		out := b.MustRun()
		if !strings.Contains(out, "/"+b.Spec.Linux.CgroupsPath+"\n") {
			t.Errorf("/proc/self/cgroup without a cgroup namespace: got %q, want the full path %q", out, b.Spec.Linux.CgroupsPath)
		}
	})
}

// cgroupMkdirTarget is a directory the container tries to make in its cgroup mount.
func cgroupMkdirTarget() string {
	if testutil.IsCgroupV2() {
		return "/sys/fs/cgroup/husk-ro-check"
	}
	return "/sys/fs/cgroup/pids/husk-ro-check"
}

// cgroupListTarget is the container's own cgroup directory as it sees it.
func cgroupListTarget() string {
	if testutil.IsCgroupV2() {
		return "/sys/fs/cgroup"
	}
	return "/sys/fs/cgroup/pids"
}

// TestCgroupBadResources: configs the cgroup code must refuse, each with an error that names
// the field, no cgroup directory and no state left behind.
func TestCgroupBadResources(t *testing.T) {
	testutil.RequireRoot(t)
	v2 := testutil.IsCgroupV2()
	cases := []struct {
		name   string
		set    func(r *specs.LinuxResources)
		path   string // linux.cgroupsPath, when the case is about it
		field  string
		skip   string // non-empty: why the case does not apply on this host
		strict string // non-empty: why runc 1.1.5 accepts the config
	}{
		{
			name: "unified on v1", set: func(r *specs.LinuxResources) { r.Unified = map[string]string{"memory.high": "1000000"} },
			field: "unified", skip: map[bool]string{true: "unified keys are valid on cgroup v2"}[v2],
		},
		{
			name: "unknown unified key", set: func(r *specs.LinuxResources) { r.Unified = map[string]string{"bogus.key": "1"} },
			field: "bogus.key", skip: map[bool]string{false: "checked by the v1 case"}[v2],
		},
		{name: "cpuset cpus", set: func(r *specs.LinuxResources) { r.CPU = &specs.LinuxCPU{Cpus: "0-x"} }, field: "cpu.cpus"},
		{
			name: "cpuset mems", set: func(r *specs.LinuxResources) { r.CPU = &specs.LinuxCPU{Mems: "1-0"} }, field: "cpu.mems",
		},
		{
			name: "negative memory", set: func(r *specs.LinuxResources) { r.Memory = &specs.LinuxMemory{Limit: i64(-5)} },
			field: "memory.limit", strict: "runc 1.1.5 passes -5 to the kernel as unlimited",
		},
		{
			name: "negative pids", set: func(r *specs.LinuxResources) { r.Pids = &specs.LinuxPids{Limit: i64(-5)} },
			field: "pids.limit", strict: "runc 1.1.5 treats any negative pids limit as unlimited",
		},
		{
			name: "cpu quota below 1ms", set: func(r *specs.LinuxResources) { r.CPU = &specs.LinuxCPU{Quota: i64(10), Period: cpuPeriod()} },
			field: "cpu.quota", strict: "runc 1.1.5 leaves it to the kernel (EINVAL, no field named)",
		},
		{
			name: "swap below limit", set: func(r *specs.LinuxResources) {
				r.Memory = &specs.LinuxMemory{Limit: i64(mib(64)), Swap: i64(mib(32))}
			},
			field: "memory.swap", strict: "runc 1.1.5 leaves it to the kernel (EINVAL, no field named)",
		},
		{
			name: "swappiness", set: func(r *specs.LinuxResources) { r.Memory = &specs.LinuxMemory{Swappiness: u64(200)} },
			field: "memory.swappiness",
		},
		{
			name: "bad device access", set: func(r *specs.LinuxResources) {
				r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: "rwx"})
			},
			field: "devices", strict: "runc 1.1.5 passes the rule to the kernel unchecked",
		},
		{
			name: "network classID", set: func(r *specs.LinuxResources) {
				r.Network = &specs.LinuxNetwork{ClassID: func(v uint32) *uint32 { return &v }(0x100001)}
			},
			field: "network", skip: map[bool]string{false: "the net_cls controller is mounted here"}[!hostHas(t, "net_cls", "net_cls.classid")],
			strict: "runc 1.1.5 ignores settings for a controller that is not mounted",
		},
		{
			name: "hugepage size", set: func(r *specs.LinuxResources) {
				r.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "3MB", Limit: 1 << 21}}
			},
			field: "hugepageLimits", strict: "runc 1.1.5 ignores hugetlb limits when the v1 hugetlb controller is not mounted",
		},
		{
			name: "cgroupsPath with ..", path: "a/../../escape", field: "cgroupsPath",
			strict: "runc 1.1.5 cleans the path and creates the cgroup",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != "" {
				t.Skip(c.skip)
			}
			if c.strict != "" {
				testutil.RequireHusk(t) // see strict
			}
			b := testutil.NewBundle(t, func(s *specs.Spec) {
				s.Process.Args = []string{"/probe", "sleep", "120"}
				if c.set != nil {
					c.set(s.Linux.Resources)
				}
			})
			if c.path != "" {
				b.Spec.Linux.CgroupsPath = c.path
				b.WriteSpec()
				removeCgroupDirs(t, "escape", "a")
			}
			r := b.Husk("create", "--bundle", b.Dir, b.ID)
			if r.Code == 0 {
				t.Fatalf("create succeeded, want an error naming %q", c.field)
			}
			if testutil.IsHusk() && !strings.Contains(r.Stderr, c.field) {
				t.Errorf("create error %q does not name %q", r.Stderr, c.field)
			}
			requireGone(t, "after a refused create", cgroupDirsUnder(t, b.Spec.Linux.CgroupsPath))
			if c.path == "" {
				requireGone(t, "after a refused create", cgroupDirsUnder(t, b.ID))
			}
			if st := b.Status(); st != "" {
				t.Errorf("container exists after a refused create, status %q", st)
			}
		})
	}
}

// TestCgroupHugetlb writes hugepage limits where the host can take them (a v1 hugetlb
// hierarchy, or hugetlb enabled for the container on cgroup2) and otherwise checks the
// refusal names the field: on this kind of hybrid host hugetlb sits on the cgroup2 mount
// without being enabled below its root, which husk must not change.
func TestCgroupHugetlb(t *testing.T) {
	testutil.RequireRoot(t)
	const size = "2MB"
	if _, err := os.Stat("/sys/kernel/mm/hugepages/hugepages-2048kB"); err != nil {
		t.Skip("requires 2MB huge pages")
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "sleep", "120"}
		s.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: size, Limit: 4 << 21}}
	})
	own := testutil.CgroupDirs(t, 0)
	v1 := hostHas(t, "hugetlb", "hugetlb."+size+".limit_in_bytes")
	parentV2 := false
	if d, ok := own[""]; ok {
		if isUnifiedOnly() && d != "/sys/fs/cgroup" {
			d = filepath.Dir(d) // where a relative path nests on a v2 host
		}
		ctrls, _ := os.ReadFile(filepath.Join(d, "cgroup.subtree_control"))
		parentV2 = strings.Contains(string(ctrls), "hugetlb")
	}
	if !v1 && !parentV2 {
		testutil.RequireHusk(t) // runc 1.1.5 ignores hugetlb limits without a v1 hugetlb hierarchy
		r := b.Husk("create", "--bundle", b.Dir, b.ID)
		if r.Code == 0 || !strings.Contains(r.Stderr, "hugepageLimits") {
			t.Errorf("create with hugetlb unavailable: exit %d %q, want an error naming hugepageLimits", r.Code, r.Stderr)
		}
		requireGone(t, "after a refused create", cgroupDirsUnder(t, b.Spec.Linux.CgroupsPath))
		return
	}
	pid := b.Create()
	dirs := testutil.CgroupDirs(t, pid)
	if v1 {
		checkCgFiles(t, dirs, []cgFile{{ctrl: "hugetlb", file: "hugetlb." + size + ".limit_in_bytes", want: strconv.Itoa(4 << 21)}})
	} else {
		checkCgFiles(t, dirs, []cgFile{{ctrl: "", file: "hugetlb." + size + ".max", want: strconv.Itoa(4 << 21)}})
	}
}
