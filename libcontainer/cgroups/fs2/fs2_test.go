package fs2

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgtest"
)

func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }
func bp(v bool) *bool      { return &v }

var leafFiles = map[string]string{
	"cgroup.procs": "7\n", "cgroup.freeze": "0", "cgroup.events": "populated 1\nfrozen 0\n",
	"cgroup.controllers": "cpu io memory pids hugetlb", "cgroup.subtree_control": "",
	"cpu.weight": "100", "cpu.max": "max 100000", "cpu.max.burst": "0", "cpu.idle": "0",
	"cpu.stat":     "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 4\nnr_throttled 1\nthrottled_usec 9\n",
	"cpu.pressure": "some avg10=0.10 avg60=0.00 avg300=0.00 total=11\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1\n",
	"cpuset.cpus":  "", "cpuset.mems": "",
	"memory.max": "max", "memory.swap.max": "max", "memory.low": "0", "memory.high": "max", "memory.current": "1048576",
	"memory.stat": "anon 1\nfile 2\n", "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n", "memory.peak": "2097152",
	"pids.max": "max", "pids.current": "1",
	"io.weight": "default 100", "io.max": "", "io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
	"hugetlb.2MB.max": "max", "hugetlb.2MB.rsvd.max": "max", "hugetlb.2MB.current": "0", "hugetlb.2MB.events": "max 0\n",
}

func fakeV2(t *testing.T) (*cgtest.Tree, *cgcore.Host) {
	tr := cgtest.NewTree(t)
	tr.Files(t, "own/c1", leafFiles)
	tr.Files(t, "own", map[string]string{"cgroup.controllers": "cpuset cpu io memory pids hugetlb", "cgroup.subtree_control": "cpuset cpu io memory pids hugetlb"})
	return tr, &cgcore.Host{Unified: tr.Root, Own: map[string]string{cgcore.UnifiedKey: "/own/self"}}
}

func TestCreateWritesV2Files(t *testing.T) {
	tr, h := fakeV2(t)
	r := &specs.LinuxResources{
		CPU:            &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Burst: u64(100), Idle: i64(1), Cpus: "0", Mems: "0"},
		Memory:         &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20), Reservation: i64(1 << 20), UseHierarchy: bp(true), DisableOOMKiller: bp(false)},
		Pids:           &specs.LinuxPids{Limit: i64(-1)},
		BlockIO:        &specs.LinuxBlockIO{Weight: u16(500), ThrottleReadIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 40}}},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2 << 20}},
		Unified:        map[string]string{"memory.high": "50331648"},
	}
	m, err := New(cgcore.Config{Name: "c1", Resources: r}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(); err != nil {
		t.Fatalf("Create: %v", err)
	}
	for file, want := range map[string]string{
		"cpu.weight": "39", "cpu.max": "50000 100000", "cpu.max.burst": "100", "cpu.idle": "1",
		"cpuset.cpus": "0", "cpuset.mems": "0",
		"memory.max": "67108864", "memory.swap.max": "33554432", "memory.low": "1048576", "memory.high": "50331648",
		"pids.max": "max", "io.weight": "default 4950", "io.max": "8:0 riops=40",
		"hugetlb.2MB.max": "2097152", "hugetlb.2MB.rsvd.max": "2097152",
	} {
		if got := tr.Read(t, filepath.Join("own/c1", file)); got != want {
			t.Errorf("%s: got %q, want %q", file, got, want)
		}
	}
}

func TestPeriodOnlyKeepsQuota(t *testing.T) {
	tr, h := fakeV2(t)
	tr.Files(t, "own/c1", map[string]string{"cpu.max": "20000 100000"})
	m, _ := New(cgcore.Config{Name: "c1"}, h)
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(50000)}}); err != nil {
		t.Fatal(err)
	}
	if got := tr.Read(t, "own/c1/cpu.max"); got != "20000 50000" {
		t.Errorf("cpu.max: got %q, want %q", got, "20000 50000")
	}
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-1)}}); err != nil {
		t.Fatal(err)
	}
	if got := tr.Read(t, "own/c1/cpu.max"); got != "max 50000" {
		t.Errorf("cpu.max: got %q, want %q", got, "max 50000")
	}
}

func TestSetErrors(t *testing.T) {
	tests := []struct {
		name string
		r    *specs.LinuxResources
		want string
	}{
		{"v1-only swappiness", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(10)}}, "linux.resources.memory.swappiness: has no cgroup v2 equivalent"},
		{"missing controller", &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx5": {HcaHandles: new(uint32)}}}, `linux.resources.rdma: `},
		{"unknown unified file", &specs.LinuxResources{Unified: map[string]string{"misc.max": "x 1"}}, `linux.resources.unified["misc.max"]: `},
		{"check before update", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(4096), CheckBeforeUpdate: bp(true)}}, "linux.resources.memory.limit: 4096 is below the current usage 1048576"},
		{"bad device rule", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "z"}}}, "linux.resources.devices[0].type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, h := fakeV2(t)
			m, _ := New(cgcore.Config{Name: "c1"}, h)
			r := tc.r
			r.Pids = &specs.LinuxPids{Limit: i64(3)}
			err := m.Set(r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got: %v, want error containing %q", err, tc.want)
			}
			if got := tr.Read(t, "own/c1/pids.max"); got != "max" {
				t.Errorf("pids.max written before the error: %q", got)
			}
		})
	}
}

func TestEnableControllers(t *testing.T) {
	tr := cgtest.NewTree(t)
	tr.Files(t, "own", map[string]string{"cgroup.controllers": "cpu memory pids", "cgroup.subtree_control": "cpu"})
	h := &cgcore.Host{Unified: tr.Root, Own: map[string]string{cgcore.UnifiedKey: "/own/self"}}
	m, _ := New(cgcore.Config{Path: "a/c1", Name: "c1"}, h)
	// In a fake tree new directories have no files; give "a" its
	// controllers as the kernel would once the parent enabled them.
	if _, err := cgcore.MkdirAll(filepath.Join(tr.Root, "own/a")); err != nil {
		t.Fatal(err)
	}
	tr.Files(t, "own/a", map[string]string{"cgroup.controllers": "cpu memory", "cgroup.subtree_control": ""})
	m.state.Created = []string{filepath.Join(tr.Root, "own/a"), filepath.Join(tr.Root, "own/a/c1")}
	if err := m.enableControllers(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1)}}); err != nil {
		t.Fatal(err)
	}
	if got := tr.Read(t, "own/cgroup.subtree_control"); got != "+memory" {
		t.Errorf("pre-existing parent: got %q, want only the needed +memory", got)
	}
	if got := tr.Read(t, "own/a/cgroup.subtree_control"); got != "+cpu +memory" {
		t.Errorf("created parent: got %q, want +cpu +memory", got)
	}
	err := m.enableControllers(&specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"x": {}}})
	if err == nil || !strings.Contains(err.Error(), "needs the rdma controller") {
		t.Errorf("unavailable controller: got %v", err)
	}
}

func TestStats(t *testing.T) {
	_, h := fakeV2(t)
	m, _ := New(cgcore.Config{Name: "c1"}, h)
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU.Usage.Total != 5000 || st.CPU.Throttling.ThrottledTime != 9000 || st.CPU.PSI == nil || st.CPU.PSI.Some.Total != 11 {
		t.Errorf("cpu: %+v psi %+v", st.CPU, st.CPU.PSI)
	}
	if st.Memory.Usage.Usage != 1<<20 || st.Memory.Usage.Max != 2<<20 || st.Memory.Usage.Failcnt != 3 || st.Memory.Cache != 2 {
		t.Errorf("memory: %+v", st.Memory)
	}
	if len(st.Blkio.IoServiceBytesRecursive) != 2 || st.Pids.Current != 1 {
		t.Errorf("io %+v pids %+v", st.Blkio, st.Pids)
	}
	if _, ok := st.Hugetlb["2MB"]; !ok {
		t.Errorf("hugetlb: %+v", st.Hugetlb)
	}
	if pids, err := m.Pids(); err != nil || !slices.Equal(pids, []int{7}) {
		t.Errorf("Pids: %v, %v", pids, err)
	}
	if got := m.JoinFiles(); len(got) != 1 || filepath.Base(got[0]) != "cgroup.procs" {
		t.Errorf("JoinFiles: %v", got)
	}
}
