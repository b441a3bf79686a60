package fs

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgtest"
)

// fakeV1 builds a fake v1 host whose leaf cgroup "/own/c1" (memory) or
// "/c1" (others) already holds the usual files.
func fakeV1(t *testing.T, memsw string) (*cgtest.Tree, *cgcore.Host) {
	tr := cgtest.NewTree(t)
	files := map[string]map[string]string{
		"cpu":     {"cpu.shares": "", "cpu.cfs_period_us": "", "cpu.cfs_quota_us": "", "cpu.cfs_burst_us": "", "cpu.rt_period_us": "", "cpu.rt_runtime_us": "", "cpu.idle": "", "cpu.stat": "nr_periods 3\nnr_throttled 1\nthrottled_time 99\n", "cgroup.procs": ""},
		"cpuacct": {"cpuacct.usage": "1000", "cpuacct.stat": "user 2\nsystem 3\n", "cpuacct.usage_percpu": "600 400", "cgroup.procs": ""},
		"cpuset":  {"cpuset.cpus": "", "cpuset.mems": "", "cgroup.procs": ""},
		"memory": {"memory.limit_in_bytes": "9223372036854771712", "memory.memsw.limit_in_bytes": memsw, "memory.soft_limit_in_bytes": "",
			"memory.swappiness": "60", "memory.oom_control": "oom_kill_disable 0", "memory.use_hierarchy": "1",
			"memory.usage_in_bytes": "4096", "memory.max_usage_in_bytes": "8192", "memory.failcnt": "0",
			"memory.stat": "cache 10\ntotal_cache 11\nrss 5\n", "cgroup.procs": ""},
		"pids":    {"pids.max": "max", "pids.current": "2", "cgroup.procs": "10\n11\n"},
		"blkio":   {"blkio.bfq.weight": "", "blkio.bfq.weight_device": "", "blkio.throttle.read_bps_device": "", "blkio.throttle.write_bps_device": "", "blkio.throttle.read_iops_device": "", "blkio.throttle.write_iops_device": "", "blkio.throttle.io_service_bytes_recursive": "8:0 Read 100\n8:0 Write 200\nTotal 300\n", "cgroup.procs": ""},
		"devices": {"devices.allow": "", "devices.deny": "", "cgroup.procs": ""},
		"freezer": {"freezer.state": "THAWED", "cgroup.procs": ""},
		"hugetlb": {"hugetlb.2MB.limit_in_bytes": "", "hugetlb.2MB.rsvd.limit_in_bytes": "", "cgroup.procs": ""},
		"net_cls": {"net_cls.classid": "", "cgroup.procs": ""},
	}
	h := &cgcore.Host{V1: map[string]string{}, Own: map[string]string{}}
	for ctrl, fs := range files {
		mount := filepath.Join(tr.Root, ctrl)
		h.V1[ctrl] = mount
		own := "/"
		if ctrl == "memory" {
			own = "/own"
		}
		h.Own[ctrl] = own
		tr.Files(t, filepath.Join(ctrl, own, "c1"), fs)
	}
	return tr, h
}

func TestPlacement(t *testing.T) {
	_, h := fakeV1(t, "")
	tests := []struct {
		path, mem, cpu, err string
	}{
		{"", "/memory/own/c1", "/cpu/c1", ""},
		{"rel/x", "/memory/own/rel/x", "/cpu/rel/x", ""},
		{"/abs/x", "/memory/abs/x", "/cpu/abs/x", ""},
		{"a/../../b", "", "", `linux.cgroupsPath "a/../../b": must not contain ".."`},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			m, err := New(cgcore.Config{Path: tc.path, Name: "c1"}, h)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got: %v, want error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			root := filepath.Dir(h.V1["cpu"])
			if got := strings.TrimPrefix(m.Path("memory"), root); got != tc.mem {
				t.Errorf("memory: got %q, want %q", got, tc.mem)
			}
			if got := strings.TrimPrefix(m.Path("cpu"), root); got != tc.cpu {
				t.Errorf("cpu: got %q, want %q", got, tc.cpu)
			}
		})
	}
}

func TestCreateWritesEveryResource(t *testing.T) {
	tr, h := fakeV1(t, "9223372036854771712")
	classID := uint32(0x100001)
	r := &specs.LinuxResources{
		CPU: &specs.LinuxCPU{Shares: u64(512), Quota: i64(20000), Period: u64(40000), Burst: u64(1000),
			RealtimeRuntime: i64(500), RealtimePeriod: u64(1000), Cpus: "0-1", Mems: "0", Idle: i64(1)},
		Memory: &specs.LinuxMemory{Limit: i64(1 << 20), Swap: i64(2 << 20), Reservation: i64(1 << 19),
			Swappiness: u64(5), DisableOOMKiller: boolp(true), UseHierarchy: boolp(true)},
		Pids: &specs.LinuxPids{Limit: i64(0)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(300),
			WeightDevice:           []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: u16(200)}},
			ThrottleWriteBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 100}}},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Network:        &specs.LinuxNetwork{ClassID: &classID},
		Devices:        []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rw"}},
	}
	m, err := New(cgcore.Config{Name: "c1", Resources: r}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if len(m.State().Created) != 0 {
		t.Errorf("Created: got %v, want none (leaves pre-existed)", m.State().Created)
	}
	for path, want := range map[string]string{
		"cpu/c1/cpu.shares": "512", "cpu/c1/cpu.cfs_quota_us": "20000", "cpu/c1/cpu.cfs_period_us": "40000",
		"cpu/c1/cpu.cfs_burst_us": "1000", "cpu/c1/cpu.rt_runtime_us": "500", "cpu/c1/cpu.rt_period_us": "1000", "cpu/c1/cpu.idle": "1",
		"cpuset/c1/cpuset.cpus": "0-1", "cpuset/c1/cpuset.mems": "0",
		"memory/own/c1/memory.limit_in_bytes": "1048576", "memory/own/c1/memory.memsw.limit_in_bytes": "2097152",
		"memory/own/c1/memory.soft_limit_in_bytes": "524288", "memory/own/c1/memory.swappiness": "5",
		"memory/own/c1/memory.oom_control": "1", "memory/own/c1/memory.use_hierarchy": "1",
		"pids/c1/pids.max": "0", "blkio/c1/blkio.bfq.weight": "300", "blkio/c1/blkio.bfq.weight_device": "8:0 200",
		"blkio/c1/blkio.throttle.write_bps_device": "8:0 100",
		"hugetlb/c1/hugetlb.2MB.limit_in_bytes":    "4194304", "hugetlb/c1/hugetlb.2MB.rsvd.limit_in_bytes": "4194304",
		"net_cls/c1/net_cls.classid": "1048577",
		"devices/c1/devices.deny":    "a *:* rwm", "devices/c1/devices.allow": "c 1:3 rw",
	} {
		if got := tr.Read(t, path); got != want {
			t.Errorf("%s: got %q, want %q", path, got, want)
		}
	}
}

// TestMemoryOrder checks that memsw never drops below the limit between
// two writes, whichever way the limits move.
func TestMemoryOrder(t *testing.T) {
	tests := []struct {
		name       string
		curMemsw   string
		limit, swp int64
		want       []string
	}{
		{"raise", "2097152", 4 << 20, 8 << 20, []string{"memory.memsw.limit_in_bytes=8388608", "memory.limit_in_bytes=4194304"}},
		{"lower", "8388608", 1 << 20, 2 << 20, []string{"memory.limit_in_bytes=1048576", "memory.memsw.limit_in_bytes=2097152"}},
		{"unlimited", "8388608", -1, -1, []string{"memory.memsw.limit_in_bytes=-1", "memory.limit_in_bytes=-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, h := fakeV1(t, tc.curMemsw)
			m, _ := New(cgcore.Config{Name: "c1"}, h)
			p, err := m.plan(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(tc.limit), Swap: i64(tc.swp)}}, true)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range p {
				got = append(got, w.File+"="+w.Data)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got: %v, want: %v", got, tc.want)
			}
		})
	}
}

func TestSetAllOrNothing(t *testing.T) {
	tr, h := fakeV1(t, "")
	delete(h.V1, "net_cls")
	m, _ := New(cgcore.Config{Name: "c1"}, h)
	classID := uint32(1)
	err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(5)}, Network: &specs.LinuxNetwork{ClassID: &classID}})
	if err == nil || !strings.Contains(err.Error(), "linux.resources.network.classID: needs the cgroup v1 net_cls controller") {
		t.Fatalf("got: %v, want a net_cls error", err)
	}
	if got := tr.Read(t, "pids/c1/pids.max"); got != "max" {
		t.Errorf("pids.max written before the failure: %q", got)
	}
	// Without the missing controller's setting the same update works.
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}}); err != nil {
		t.Fatal(err)
	}
}

func TestStatsAndState(t *testing.T) {
	_, h := fakeV1(t, "")
	m, _ := New(cgcore.Config{Name: "c1"}, h)
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU.Usage.Total != 1000 || st.CPU.Usage.User != 2e7 || st.CPU.Usage.Kernel != 3e7 || !slices.Equal(st.CPU.Usage.Percpu, []uint64{600, 400}) {
		t.Errorf("cpu: %+v", st.CPU.Usage)
	}
	if st.CPU.Throttling.ThrottledPeriods != 1 || st.Memory.Cache != 11 || st.Memory.Usage.Usage != 4096 || st.Pids.Current != 2 || st.Pids.Limit != 0 {
		t.Errorf("stats: %+v", st)
	}
	if len(st.Blkio.IoServiceBytesRecursive) != 2 || st.Blkio.IoServiceBytesRecursive[1].Op != "Write" {
		t.Errorf("blkio: %+v", st.Blkio)
	}
	if pids, err := m.Pids(); err != nil || !slices.Equal(pids, []int{10, 11}) {
		t.Errorf("Pids: got %v, %v", pids, err)
	}
	b, err := json.Marshal(m.State())
	if err != nil {
		t.Fatal(err)
	}
	var s cgcore.State
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if m2 := Load(s); m2.Path("memory") != m.Path("memory") || len(m2.JoinFiles()) != len(m.JoinFiles()) {
		t.Errorf("Load(State) differs: %v vs %v", m2.State(), m.State())
	}
	js, _ := json.Marshal(st)
	for _, key := range []string{`"cpu":{"usage":{"kernel":30000000`, `"throttledPeriods":1`, `"pids":{"current":2}`, `"ioServiceBytesRecursive"`} {
		if !strings.Contains(string(js), key) {
			t.Errorf("stats JSON lacks %s: %s", key, js)
		}
	}
}

func TestCreateMakesParentsAndDestroyRemovesThem(t *testing.T) {
	tr, h := fakeV1(t, "")
	// Only a pids hierarchy with an existing root: cgroup files in the
	// new directories are absent in a fake tree, so no resources.
	h.V1 = map[string]string{"pids": h.V1["pids"]}
	m, _ := New(cgcore.Config{Path: "/a/b/c", Name: "c1"}, h)
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(tr.Root, "pids/a"), filepath.Join(tr.Root, "pids/a/b"), filepath.Join(tr.Root, "pids/a/b/c")}
	if got := m.State().Created; !slices.Equal(got, want) {
		t.Fatalf("Created: got %v, want %v", got, want)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if m.Exists() || cgcore.Exists(tr.Root, "pids/a") {
		t.Errorf("Destroy left directories behind")
	}
	if !cgcore.Exists(tr.Root, "pids/c1") {
		t.Errorf("Destroy removed a directory it did not create")
	}
}
