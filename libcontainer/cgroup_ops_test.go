package libcontainer

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func ptr[T any](v T) *T { return &v }

func TestMergeResources(t *testing.T) {
	recorded := func() *specs.LinuxResources {
		return &specs.LinuxResources{
			Devices:        []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			Memory:         &specs.LinuxMemory{Limit: ptr(int64(100 << 20)), Reservation: ptr(int64(50 << 20)), Swappiness: ptr(uint64(60))},
			CPU:            &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)), Cpus: "0-1"},
			Pids:           &specs.LinuxPids{Limit: ptr(int64(100))},
			HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}},
		}
	}
	tests := []struct {
		name string
		old  *specs.LinuxResources
		upd  *specs.LinuxResources
		want func() *specs.LinuxResources
	}{
		{"nothing recorded", nil, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(5))}},
			func() *specs.LinuxResources {
				return &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(5))}}
			}},
		{"empty update", recorded(), &specs.LinuxResources{}, recorded},
		{"memory limit keeps the rest", recorded(), &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(200 << 20))}},
			func() *specs.LinuxResources { r := recorded(); r.Memory.Limit = ptr(int64(200 << 20)); return r }},
		{"memory swap and reservation", recorded(), &specs.LinuxResources{Memory: &specs.LinuxMemory{Reservation: ptr(int64(1)), Swap: ptr(int64(-1))}},
			func() *specs.LinuxResources {
				r := recorded()
				r.Memory.Reservation, r.Memory.Swap = ptr(int64(1)), ptr(int64(-1))
				return r
			}},
		{"memory swappiness and OOM killer", recorded(), &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: ptr(uint64(0)), DisableOOMKiller: ptr(true)}},
			func() *specs.LinuxResources {
				r := recorded()
				r.Memory.Swappiness, r.Memory.DisableOOMKiller = ptr(uint64(0)), ptr(true)
				return r
			}},
		{"memory into none recorded", &specs.LinuxResources{}, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(1 << 30))}},
			func() *specs.LinuxResources {
				return &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(1 << 30))}}
			}},
		{"cpu quota keeps shares and cpus", recorded(), &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(-1))}},
			func() *specs.LinuxResources { r := recorded(); r.CPU.Quota = ptr(int64(-1)); return r }},
		{"cpu every field", recorded(), &specs.LinuxResources{CPU: &specs.LinuxCPU{
			Shares: ptr(uint64(2)), Period: ptr(uint64(10000)), RealtimeRuntime: ptr(int64(1)), RealtimePeriod: ptr(uint64(2)),
			Cpus: "0", Mems: "0", Burst: ptr(uint64(1000)), Idle: ptr(int64(1)),
		}}, func() *specs.LinuxResources {
			r := recorded()
			r.CPU = &specs.LinuxCPU{Shares: ptr(uint64(2)), Quota: r.CPU.Quota, Period: ptr(uint64(10000)), RealtimeRuntime: ptr(int64(1)),
				RealtimePeriod: ptr(uint64(2)), Cpus: "0", Mems: "0", Burst: ptr(uint64(1000)), Idle: ptr(int64(1))}
			return r
		}},
		{"pids", recorded(), &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(-1))}},
			func() *specs.LinuxResources { r := recorded(); r.Pids.Limit = ptr(int64(-1)); return r }},
		{"blkio weight", recorded(), &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(300))}},
			func() *specs.LinuxResources {
				r := recorded()
				r.BlockIO = &specs.LinuxBlockIO{Weight: ptr(uint16(300))}
				return r
			}},
		{"unified", recorded(), &specs.LinuxResources{Unified: map[string]string{"memory.high": "max"}},
			func() *specs.LinuxResources {
				r := recorded()
				r.Unified = map[string]string{"memory.high": "max"}
				return r
			}},
		{"hugepage limits", recorded(), &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "1GB", Limit: 0}}},
			func() *specs.LinuxResources {
				r := recorded()
				r.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "1GB", Limit: 0}}
				return r
			}},
		{"rdma", recorded(), &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: ptr(uint32(3))}}},
			func() *specs.LinuxResources {
				r := recorded()
				r.Rdma = map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: ptr(uint32(3))}}
				return r
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := dump(tt.old)
			got := mergeResources(tt.old, tt.upd)
			if want := tt.want(); !reflect.DeepEqual(got, want) {
				t.Errorf("got:  %s\nwant: %s", dump(got), dump(want))
			}
			if after := dump(tt.old); after != before {
				t.Errorf("the recorded resources changed: got %s, want %s", after, before)
			}
		})
	}
}
