package cgcore

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }
func bp(v bool) *bool      { return &v }

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		r    *specs.LinuxResources
		v    Version
		want string // "" = valid
	}{
		{"nil", nil, V1, ""},
		{"full valid v1", &specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: i64(1 << 20), Swap: i64(2 << 20), Swappiness: u64(60)},
			CPU:    &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), Burst: u64(1000), Cpus: "0-1,3", Mems: "0"},
			Pids:   &specs.LinuxPids{Limit: i64(0)},
		}, V1, ""},
		{"pids unlimited", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}}, V1, ""},
		{"pids below -1", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-5)}}, V2, "linux.resources.pids.limit: must be -1"},
		{"swap below limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(2 << 20), Swap: i64(1 << 20)}}, V1, "linux.resources.memory.swap: must be >= memory.limit"},
		{"negative limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-2)}}, V1, "linux.resources.memory.limit: must be -1"},
		{"swap with unlimited memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(5)}}, V1, "linux.resources.memory.swap: must be -1"},
		{"swap without limit on v2", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(5)}}, V2, "needs memory.limit on cgroup v2"},
		{"swappiness range", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(101)}}, V1, "linux.resources.memory.swappiness: must be 0 to 100"},
		{"swappiness on v2", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(1)}}, V2, "memory.swappiness: has no cgroup v2 equivalent"},
		{"oom killer off on v2", &specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: bp(true)}}, V2, "memory.disableOOMKiller"},
		{"oom killer on, v2", &specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: bp(false)}}, V2, ""},
		{"bad cpuset", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-"}}, V1, "linux.resources.cpu.cpus"},
		{"reversed range", &specs.LinuxResources{CPU: &specs.LinuxCPU{Mems: "3-1"}}, V1, "linux.resources.cpu.mems: invalid list \"3-1\""},
		{"shares too big", &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(300000)}}, V1, "linux.resources.cpu.shares"},
		{"quota tiny", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(10)}}, V1, "linux.resources.cpu.quota"},
		{"burst over quota", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(10000), Burst: u64(20000)}}, V1, "linux.resources.cpu.burst: must be <= cpu.quota"},
		{"idle 2", &specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: i64(2)}}, V1, "linux.resources.cpu.idle"},
		{"rt on v2", &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(1000)}}, V2, "realtimeRuntime/realtimePeriod: has no cgroup v2"},
		{"blkio weight", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(5)}}, V1, "linux.resources.blockIO.weight: must be 10 to 1000"},
		{"leaf weight on v2", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: u16(50)}}, V2, "blockIO.leafWeight: has no cgroup v2"},
		{"weight device empty", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{{}}}}, V1, "blockIO.weightDevice[0]: needs weight or leafWeight"},
		{"page size", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2M"}}}, V1, "hugepageLimits[0].pageSize"},
		{"network on v2", &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: new(uint32)}}, V2, "linux.resources.network: has no cgroup v2"},
		{"rdma empty", &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx": {}}}, V1, `rdma["mlx"]: needs hcaHandles`},
		{"unified on v1", &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, V1, "linux.resources.unified: needs cgroup v2"},
		{"unified path", &specs.LinuxResources{Unified: map[string]string{"../memory.high": "1"}}, V2, `unified["../memory.high"]`},
		{"unified procs", &specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}}, V2, "is managed by the runtime"},
		{"unified ok", &specs.LinuxResources{Unified: map[string]string{"memory.high": "1G"}}, V2, ""},
		{"device type", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "x"}}}, V1, "devices[0].type"},
		{"device access", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Access: "rwx"}}}, V1, "devices[0].access"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.r, tc.v)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got: %v, want: nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got: %v, want error containing %q", err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	err := Validate(&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "x", Mems: "y"}}, V1)
	if err == nil || !strings.Contains(err.Error(), "cpu.cpus") || !strings.Contains(err.Error(), "cpu.mems") {
		t.Fatalf("got: %v, want both cpu.cpus and cpu.mems", err)
	}
}

func TestCgroupPath(t *testing.T) {
	tests := []struct {
		name, path, id, own, want, wantErr string
	}{
		{"empty uses name under own", "", "c1", "/process_api/x", "/process_api/x/c1", ""},
		{"empty at root", "", "c1", "/", "/c1", ""},
		{"relative nests under own", "a/b", "c1", "/process_api/x", "/process_api/x/a/b", ""},
		{"absolute as given", "/ctr/c1", "c1", "/process_api/x", "/ctr/c1", ""},
		{"absolute cleaned", "/ctr//c1/", "c1", "/", "/ctr/c1", ""},
		{"dotdot relative", "../escape", "c1", "/x", "", `linux.cgroupsPath "../escape": must not contain ".."`},
		{"dotdot absolute", "/a/../../b", "c1", "/x", "", "linux.cgroupsPath"},
		{"dotdot name", "", "..", "/x", "", "container id"},
		{"nothing", "", "", "/x", "", "linux.cgroupsPath: empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CgroupPath(tc.path, tc.id, tc.own)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got: %q, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got: %q, %v; want: %q", got, err, tc.want)
			}
		})
	}
}

func TestParseProcCgroup(t *testing.T) {
	in := "9:name=systemd:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/x\n0::/\n"
	got, err := ParseProcCgroup(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"name=systemd": "/", "memory": "/process_api/abc", "cpu": "/x", "cpuacct": "/x", UnifiedKey: "/"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%q: got: %q, want: %q", k, got[k], v)
		}
	}
	if _, err := ParseProcCgroup(strings.NewReader("garbage\n")); err == nil {
		t.Error("garbage line: got nil error")
	}
}

func TestHostFromMounts(t *testing.T) {
	mounts := []*mountinfo.Info{
		{Mountpoint: "/sys/fs/cgroup/unified", FSType: "cgroup2", Root: "/", VFSOptions: "rw"},
		{Mountpoint: "/sys/fs/cgroup/cpu,cpuacct", FSType: "cgroup", Root: "/", VFSOptions: "rw,cpu,cpuacct"},
		{Mountpoint: "/sys/fs/cgroup/memory", FSType: "cgroup", Root: "/", VFSOptions: "rw,memory"},
		{Mountpoint: "/sys/fs/cgroup/systemd", FSType: "cgroup", Root: "/", VFSOptions: "rw,xattr,name=systemd"},
		{Mountpoint: "/container/memory", FSType: "cgroup", Root: "/docker/x", VFSOptions: "rw,memory"},
	}
	h := hostFromMounts(mounts, map[string]string{"memory": "/m", UnifiedKey: "/u"})
	if h.Unified != "/sys/fs/cgroup/unified" || h.IsUnified() {
		t.Errorf("unified: got %q (IsUnified %v)", h.Unified, h.IsUnified())
	}
	for k, want := range map[string]string{"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct", "memory": "/sys/fs/cgroup/memory", "name=systemd": "/sys/fs/cgroup/systemd"} {
		if h.V1[k] != want {
			t.Errorf("V1[%q]: got %q, want %q", k, h.V1[k], want)
		}
	}
	if h.Own["memory"] != "/m" || h.Own["cpu"] != "/" || h.Own[UnifiedKey] != "/u" {
		t.Errorf("Own: got %v", h.Own)
	}
	v2 := hostFromMounts(mounts[:1], map[string]string{UnifiedKey: "/"})
	if !v2.IsUnified() {
		t.Error("pure cgroup2 host: IsUnified false")
	}
}

func TestParseList(t *testing.T) {
	got, err := ParseList("0-2,5, 7")
	if err == nil {
		t.Errorf("spaces inside: got %v, want error", got)
	}
	got, err = ParseList("0-2,5,7")
	if err != nil || !slices.Equal(got, []uint16{0, 1, 2, 5, 7}) {
		t.Errorf("got: %v, %v", got, err)
	}
	if got, err := ParseList(""); err != nil || got != nil {
		t.Errorf("empty: got %v, %v", got, err)
	}
}

func TestConversions(t *testing.T) {
	for _, c := range []struct{ shares, weight uint64 }{{2, 1}, {1024, 39}, {262144, 10000}, {0, 0}} {
		if got := SharesToWeight(c.shares); got != c.weight {
			t.Errorf("SharesToWeight(%d): got %d, want %d", c.shares, got, c.weight)
		}
	}
	for _, c := range []struct {
		w    uint16
		want uint64
	}{{10, 1}, {1000, 10000}, {500, 4950}} {
		if got := BlkioWeightToIOWeight(c.w); got != c.want {
			t.Errorf("BlkioWeightToIOWeight(%d): got %d, want %d", c.w, got, c.want)
		}
	}
	for _, c := range []struct {
		b    uint64
		want string
	}{{2 << 20, "2MB"}, {1 << 30, "1GB"}, {64 << 10, "64KB"}} {
		if got := PageSizeName(c.b); got != c.want {
			t.Errorf("PageSizeName(%d): got %q, want %q", c.b, got, c.want)
		}
	}
	for _, c := range []struct {
		in   int64
		want string
	}{{-1, "max"}, {-5, "max"}, {0, "0"}, {42, "42"}} {
		if got := PidsMax(c.in); got != c.want {
			t.Errorf("PidsMax(%d): got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestFiles(t *testing.T) {
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "cpu.pressure"), []byte("some avg10=1.50 avg60=0.00 avg300=0.00 total=123\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n"), 0o644)
	os.WriteFile(filepath.Join(d, "memory.stat"), []byte("anon 10\nfile 20\n"), 0o644)
	os.WriteFile(filepath.Join(d, "pids.max"), []byte("max\n"), 0o644)
	psi, err := ReadPSI(d, "cpu.pressure")
	if err != nil || psi.Some.Avg10 != 1.5 || psi.Some.Total != 123 || psi.Full.Total != 7 {
		t.Errorf("ReadPSI: got %+v, %v", psi, err)
	}
	if psi, err := ReadPSI(d, "io.pressure"); psi != nil || err != nil {
		t.Errorf("ReadPSI missing file: got %+v, %v; want nil, nil", psi, err)
	}
	if kv, err := ReadKV(d, "memory.stat"); err != nil || kv["file"] != 20 {
		t.Errorf("ReadKV: got %v, %v", kv, err)
	}
	if v, err := ReadUint(d, "pids.max"); err != nil || v != ^uint64(0) {
		t.Errorf("ReadUint max: got %d, %v", v, err)
	}
	err = WriteFile(d, "missing.file", "max")
	if err == nil || err.Error() != `write "max" to `+filepath.Join(d, "missing.file")+`: no such file or directory` {
		t.Errorf("WriteFile error: got %v", err)
	}
}

func TestMkdirAllAndRemove(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "a"), 0o755)
	made, err := MkdirAll(filepath.Join(root, "a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(root, "a", "b"), filepath.Join(root, "a", "b", "c")}
	if !slices.Equal(made, want) {
		t.Fatalf("MkdirAll made: got %v, want %v", made, want)
	}
	if err := RemoveDirs(made); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "a")); err != nil {
		t.Errorf("RemoveDirs removed a directory it did not create: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "a", "b")); err == nil {
		t.Errorf("RemoveDirs left a/b")
	}
}

// TestRemoveDirsKeepsSiblings: a parent made for one container's cgroup may hold another
// container's by the time the first is deleted; that one must survive, the parent too.
func TestRemoveDirsKeepsSiblings(t *testing.T) {
	root := t.TempDir()
	made, err := MkdirAll(filepath.Join(root, "parent", "c1"))
	if err != nil {
		t.Fatal(err)
	}
	sibling := filepath.Join(root, "parent", "c2")
	if err := os.Mkdir(sibling, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := RemoveDirs(made); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "parent", "c1")); err == nil {
		t.Error("the container's own cgroup was left")
	}
	if _, err := os.Stat(sibling); err != nil {
		t.Errorf("RemoveDirs removed a sibling under the parent it made: %v", err)
	}
	// Once the sibling is gone, the second container's delete removes the parent.
	if err := RemoveDirs([]string{filepath.Join(root, "parent"), sibling}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "parent")); err == nil {
		t.Error("parent left after its last container")
	}
}

func TestValidPageSize(t *testing.T) {
	for s, want := range map[string]bool{
		"64KB": true, "2MB": true, "1GB": true, "10MB": true, "1024KB": true,
		"2M": false, "02MB": false, "MB": false, "2xMB": false, "2TB": false, "": false, "0KB": false, "2mb": false,
	} {
		if got := validPageSize(s); got != want {
			t.Errorf("validPageSize(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestMkdirAll: MkdirAll reports exactly the directories it made, parents first, and refuses
// a file in the way.
func TestMkdirAll(t *testing.T) {
	root := t.TempDir()
	j := func(p ...string) string { return filepath.Join(append([]string{root}, p...)...) }
	for _, c := range []struct {
		dir  string
		want []string
	}{
		{j("a", "b", "c"), []string{j("a"), j("a", "b"), j("a", "b", "c")}},
		{j("a", "b", "c"), nil},
		{j("a", "b"), nil},
		{j("a", "x", "y") + "/", []string{j("a", "x"), j("a", "x", "y")}},
		{j("a", "z"), []string{j("a", "z")}},
	} {
		got, err := MkdirAll(c.dir)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("MkdirAll(%s) = %v, %v; want %v", c.dir, got, err, c.want)
		}
		if st, err := os.Stat(c.dir); err != nil || !st.IsDir() {
			t.Errorf("after MkdirAll(%s): %v", c.dir, err)
		}
	}
	if err := os.WriteFile(j("f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := MkdirAll(j("f", "sub")); err == nil || got != nil {
		t.Errorf("MkdirAll under a file = %v, %v; want an error", got, err)
	}
}
