package systemd

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	sd "github.com/coreos/go-systemd/v22/dbus"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/devices"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgtest"
)

func i64(v int64) *int64    { return &v }
func up64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16  { return &v }

func TestParseCgroupsPath(t *testing.T) {
	tests := []struct {
		path, id string
		rootless bool
		want     Unit
		cgroup   string
		err      string
	}{
		{"", "c1", false, Unit{"system.slice", "husk-c1.scope"}, "/system.slice/husk-c1.scope", ""},
		{"", "c1", true, Unit{"user.slice", "husk-c1.scope"}, "/user.slice/husk-c1.scope", ""},
		{"machine.slice:libpod:abc", "c1", false, Unit{"machine.slice", "libpod-abc.scope"}, "/machine.slice/libpod-abc.scope", ""},
		{"a-b-c.slice:pfx:n", "c1", false, Unit{"a-b-c.slice", "pfx-n.scope"}, "/a.slice/a-b.slice/a-b-c.slice/pfx-n.scope", ""},
		{"::n", "c1", false, Unit{"system.slice", "n.scope"}, "/system.slice/n.scope", ""},
		{"system.slice:x:sub.slice", "c1", false, Unit{"system.slice", "sub.slice"}, "/system.slice/sub.slice", ""},
		{"/abs/path", "c1", false, Unit{}, "", `must be "slice:prefix:name"`},
		{"bad:x:n", "c1", false, Unit{}, "", `invalid slice name "bad"`},
		{"a--b.slice:x:n", "c1", false, Unit{}, "", "dashes separate"},
		{"s.slice:x:", "c1", false, Unit{}, "", "empty unit name"},
		{"s.slice:x/y:n", "c1", false, Unit{}, "", `must not contain "/"`},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, err := ParseCgroupsPath(tc.path, tc.id, tc.rootless)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got: %v, %v; want error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want || got.CgroupPath() != tc.cgroup {
				t.Fatalf("got: %+v (%s), %v; want: %+v (%s)", got, got.CgroupPath(), err, tc.want, tc.cgroup)
			}
		})
	}
	if p, _ := ExpandSlice("-.slice"); p != "/" {
		t.Errorf("root slice: got %q", p)
	}
}

// props renders properties as Name=Value strings for comparison.
func props(ps []sd.Property) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s=%v", p.Name, p.Value.Value()))
	}
	return out
}

func TestProperties(t *testing.T) {
	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20), Reservation: i64(1 << 20)},
		CPU:     &specs.LinuxCPU{Shares: up64(1024), Quota: i64(12345), Period: up64(100000), Cpus: "0,9", Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: i64(-1)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(500)},
	}
	tests := []struct {
		name        string
		unified     bool
		annotations map[string]string
		want        []string
		absent      []string
	}{
		{"v2", true, nil, []string{
			"MemoryMax=67108864", "MemoryLow=1048576", "MemorySwapMax=33554432", "CPUWeight=39",
			"CPUQuotaPeriodUSec=100000", "CPUQuotaPerSecUSec=130000", "AllowedCPUs=[1 2]", "AllowedMemoryNodes=[1]",
			fmt.Sprintf("TasksMax=%d", uint64(math.MaxUint64)), "IOWeight=4950", "IOAccounting=true", "Delegate=true", "Slice=system.slice",
		}, []string{"MemoryLimit", "CPUShares", "BlockIOWeight"}},
		{"v1", false, nil, []string{
			"MemoryLimit=67108864", "CPUShares=1024", "BlockIOWeight=500", "BlockIOAccounting=true", "CPUQuotaPerSecUSec=130000",
		}, []string{"MemoryMax", "MemorySwapMax", "CPUWeight", "AllowedCPUs", "IOWeight"}},
		{"annotations override and convert", true, map[string]string{
			AnnotationPrefix + "TimeoutStopSec": "uint64 3",
			AnnotationPrefix + "MemoryMax":      "uint64 1024",
			AnnotationPrefix + "CollectMode":    "'inactive-or-failed'",
			"org.other":                         "ignored",
		}, []string{"TimeoutStopUSec=3000000", "MemoryMax=1024", "CollectMode=inactive-or-failed"}, []string{"TimeoutStopSec", "org.other"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := Properties(r, tc.annotations, PropOptions{Unified: tc.unified, Slice: "system.slice", Description: "d"})
			if err != nil {
				t.Fatal(err)
			}
			got := props(ps)
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("missing %s in %v", w, got)
				}
			}
			for _, a := range tc.absent {
				for _, g := range got {
					if strings.HasPrefix(g, a+"=") {
						t.Errorf("unexpected %s", g)
					}
				}
			}
			names := map[string]int{}
			for _, p := range ps {
				names[p.Name]++
				if names[p.Name] > 1 {
					t.Errorf("property %s appears twice", p.Name)
				}
			}
		})
	}
}

func TestPropertyErrors(t *testing.T) {
	for _, tc := range []struct {
		key, val, want string
	}{
		{AnnotationPrefix + "bad-name", "true", "is not a systemd property name"},
		{AnnotationPrefix + "CPUWeight", "not a variant", "not a D-Bus variant"},
		{AnnotationPrefix + "TimeoutStopSec", "'x'", "want a number of seconds"},
	} {
		_, err := Properties(nil, map[string]string{tc.key: tc.val}, PropOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: got %v, want error containing %q", tc.key, tc.val, err, tc.want)
		}
	}
}

func TestDevicePolicy(t *testing.T) {
	names := func(typ byte, major int64) (string, bool) {
		if typ == 'c' && major == 136 {
			return "pts", true
		}
		return "", false
	}
	spec := append([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, devices.DefaultAllowList()...)
	rules, err := devices.FromSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	policy, allow, ok := devicePolicy(rules, names)
	if !ok || policy != "strict" {
		t.Fatalf("default list: got %q, %v", policy, ok)
	}
	for _, want := range []deviceAllow{{"char-*", "m"}, {"block-*", "m"}, {"/dev/char/1:3", "rwm"}, {"char-pts", "rwm"}} {
		if !slices.Contains(allow, want) {
			t.Errorf("DeviceAllow lacks %v: %v", want, allow)
		}
	}
	// A deny after allows cannot be expressed.
	rules = append(rules, devices.Rule{Allow: false, Type: 'c', Major: 1, Minor: 3, Access: "w"})
	if _, _, ok := devicePolicy(rules, names); ok {
		t.Error("deny after allow: got ok")
	}
	// Unknown major with wildcard minor cannot be named.
	if _, _, ok := devicePolicy([]devices.Rule{{Allow: true, Type: 'c', Major: 999, Minor: -1, Access: "r"}}, names); ok {
		t.Error("unnamed major: got ok")
	}
}

func TestNewNeedsSystemd(t *testing.T) {
	_, err := New(cgcore.Config{Name: "c1", Systemd: true}, &cgcore.Host{Unified: "/sys/fs/cgroup"})
	if err == nil || !strings.Contains(err.Error(), "systemd is not PID 1") {
		t.Fatalf("got %v", err)
	}
	tr := cgtest.NewTree(t)
	h := &cgcore.Host{Unified: tr.Root, Own: map[string]string{cgcore.UnifiedKey: "/somewhere"}, Systemd: true}
	m, err := New(cgcore.Config{Path: "machine.slice:p:n", Name: "c1", Systemd: true}, h)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Path(""), tr.Root+"/machine.slice/p-n.scope"; got != want {
		t.Errorf("path: got %q, want %q (systemd places scopes from the root, not husk's cgroup)", got, want)
	}
	s := m.State()
	if s.Driver != cgcore.DriverSystemd || s.Unit != "p-n.scope" || !s.Unified || m.JoinFiles() != nil {
		t.Errorf("state: %+v, join files %v", s, m.JoinFiles())
	}
	m2, err := Load(s)
	if err != nil || m2.Path("") != m.Path("") || m2.unit != m.unit {
		t.Errorf("Load: %+v, %v", m2, err)
	}
}

// TestRealScope needs systemd as PID 1 and the system bus.
func TestRealScope(t *testing.T) {
	cgtest.RequireRoot(t)
	h, err := cgcore.DetectHost()
	if err != nil || !h.Systemd {
		t.Skip("requires systemd as PID 1")
	}
	m, err := New(cgcore.Config{Name: cgtest.Name(t), Systemd: true, Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(10)}}}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	cmd := cgtest.Start(t, "sleep", "100")
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if pids, err := m.Pids(); err != nil || !slices.Contains(pids, cmd.Process.Pid) {
		t.Errorf("Pids: %v, %v", pids, err)
	}
}
