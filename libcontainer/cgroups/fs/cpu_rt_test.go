package fs

import (
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgtest"
)

func TestPlanRtParents(t *testing.T) {
	rt := func(runtime, period string) map[string]string {
		return map[string]string{"cpu.rt_runtime_us": runtime, "cpu.rt_period_us": period}
	}
	tests := []struct {
		name          string
		parent        map[string]string // the created parent's current budget
		runtime       int64
		period        uint64
		want          []string // "dir-base file=data", in order
		parentCreated bool
	}{
		{
			name: "new parent gets the budget first", parent: rt("0", "1000000"), runtime: 5000, period: 100000, parentCreated: true,
			want: []string{"p cpu.rt_period_us=100000", "p cpu.rt_runtime_us=5000", "c1 cpu.rt_period_us=100000", "c1 cpu.rt_runtime_us=5000"},
		},
		{
			name: "same period, only runtime", parent: rt("0", "100000"), runtime: 5000, period: 100000, parentCreated: true,
			want: []string{"p cpu.rt_runtime_us=5000", "c1 cpu.rt_period_us=100000", "c1 cpu.rt_runtime_us=5000"},
		},
		{
			name: "parent budget already covers", parent: rt("950000", "1000000"), runtime: 5000, period: 100000, parentCreated: true,
			want: []string{"c1 cpu.rt_period_us=100000", "c1 cpu.rt_runtime_us=5000"},
		},
		{
			name: "parent not ours is never written", parent: rt("0", "1000000"), runtime: 5000, period: 100000,
			want: []string{"c1 cpu.rt_period_us=100000", "c1 cpu.rt_runtime_us=5000"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := cgtest.NewTree(t)
			tr.Files(t, "cpu/p", tc.parent)
			tr.Files(t, "cpu/p/c1", rt("0", "1000000"))
			parent, leaf := filepath.Join(tr.Root, "cpu/p"), filepath.Join(tr.Root, "cpu/p/c1")
			created := []string{leaf}
			if tc.parentCreated {
				created = []string{parent, leaf}
			}
			m := &Manager{state: cgcore.State{Paths: map[string]string{"cpu": leaf}, Created: created}}
			p, err := m.plan(&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: &tc.runtime, RealtimePeriod: &tc.period}}, false)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range p {
				got = append(got, filepath.Base(w.Dir)+" "+w.File+"="+w.Data)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("plan:\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}
