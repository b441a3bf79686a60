package fs2

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/devices"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

// apply plans every write (failing before any with a field-naming error),
// compiles the device filter, then writes and attaches.
func (m *Manager) apply(r *specs.LinuxResources, update bool) error {
	if r == nil {
		return nil
	}
	p, err := m.plan(r, update)
	if err != nil {
		return err
	}
	var rules []devices.Rule
	if len(r.Devices) > 0 {
		if rules, err = devices.FromSpec(r.Devices); err != nil {
			return err
		}
		if _, err := devices.Program(rules); err != nil {
			return fmt.Errorf("linux.resources.devices: %w", err)
		}
	}
	if err := p.Execute(); err != nil {
		return fmt.Errorf("apply cgroup resources: %w", err)
	}
	if len(rules) > 0 {
		if err := devices.AttachV2(m.dir(), rules); err != nil {
			return fmt.Errorf("apply cgroup resources: %w", err)
		}
	}
	return nil
}

// needFile checks that the cgroup offers file (its controller is enabled)
// and names field otherwise.
func (m *Manager) needFile(file, field string) error {
	if cgcore.Exists(m.dir(), file) {
		return nil
	}
	ctrl, _, _ := strings.Cut(file, ".")
	return fmt.Errorf("linux.resources.%s: %s has no %s (controller %q not enabled, or the kernel lacks it): %w", field, m.dir(), file, ctrl, cgcore.ErrNotSupported)
}

func (m *Manager) plan(r *specs.LinuxResources, update bool) (cgcore.Plan, error) {
	var p cgcore.Plan
	add := func(file, field, data string) error {
		if err := m.needFile(file, field); err != nil {
			return err
		}
		p.Add(m.dir(), file, data)
		return nil
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			if err := add("cpu.weight", "cpu.shares", strconv.FormatUint(cgcore.SharesToWeight(*c.Shares), 10)); err != nil {
				return nil, err
			}
		}
		if (c.Quota != nil && *c.Quota != 0) || (c.Period != nil && *c.Period != 0) {
			if err := m.needFile("cpu.max", "cpu.quota"); err != nil {
				return nil, err
			}
			// cpu.max is "$MAX $PERIOD"; keep the half not configured.
			cur, err := cgcore.ReadFile(m.dir(), "cpu.max")
			if err != nil {
				return nil, err
			}
			quota, period, _ := strings.Cut(cur, " ")
			if c.Quota != nil && *c.Quota != 0 {
				quota = "max"
				if *c.Quota > 0 {
					quota = strconv.FormatInt(*c.Quota, 10)
				}
			}
			if c.Period != nil && *c.Period != 0 {
				period = strconv.FormatUint(*c.Period, 10)
			}
			p.Add(m.dir(), "cpu.max", strings.TrimSpace(quota+" "+period))
		}
		if c.Burst != nil {
			if err := add("cpu.max.burst", "cpu.burst", strconv.FormatUint(*c.Burst, 10)); err != nil {
				return nil, err
			}
		}
		if c.Idle != nil {
			if err := add("cpu.idle", "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
				return nil, err
			}
		}
		if c.Cpus != "" {
			if err := add("cpuset.cpus", "cpu.cpus", c.Cpus); err != nil {
				return nil, err
			}
		}
		if c.Mems != "" {
			if err := add("cpuset.mems", "cpu.mems", c.Mems); err != nil {
				return nil, err
			}
		}
	}
	if err := m.planMemory(r, &p, update); err != nil {
		return nil, err
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		if err := add("pids.max", "pids.limit", cgcore.PidsMax(*r.Pids.Limit)); err != nil {
			return nil, err
		}
	}
	if err := m.planIO(r.BlockIO, &p); err != nil {
		return nil, err
	}
	for i, h := range r.HugepageLimits {
		f := "hugetlb." + h.Pagesize + ".max"
		if err := add(f, fmt.Sprintf("hugepageLimits[%d]", i), strconv.FormatUint(h.Limit, 10)); err != nil {
			return nil, err
		}
		if rf := "hugetlb." + h.Pagesize + ".rsvd.max"; cgcore.Exists(m.dir(), rf) {
			p.Add(m.dir(), rf, strconv.FormatUint(h.Limit, 10))
		}
	}
	if len(r.Rdma) > 0 {
		for _, line := range cgcore.RdmaLines(r.Rdma) {
			if err := add("rdma.max", "rdma", line); err != nil {
				return nil, err
			}
		}
	}
	// "Configuration unknown to the runtime MUST still be written to the
	// relevant file." -OCI spec. Sorted keys make the order predictable.
	keys := make([]string, 0, len(r.Unified))
	for k := range r.Unified {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := add(k, fmt.Sprintf("unified[%q]", k), r.Unified[k]); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (m *Manager) planMemory(r *specs.LinuxResources, p *cgcore.Plan, update bool) error {
	mem := r.Memory
	if mem == nil {
		return nil
	}
	if mem.Kernel != nil || mem.KernelTCP != nil {
		slog.Warn("linux.resources.memory.kernel and kernelTCP are not supported on cgroup v2 and are ignored")
	}
	max := func(v int64) string {
		if v < 0 {
			return "max"
		}
		return strconv.FormatInt(v, 10)
	}
	if mem.Limit != nil {
		if err := m.needFile("memory.max", "memory.limit"); err != nil {
			return err
		}
		// "If enabled (true), runtime MAY check if a new memory limit is
		// lower than the current usage, and MUST reject the new limit."
		// -OCI spec. On v2 the kernel would OOM-kill instead.
		if update && mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && *mem.Limit >= 0 {
			cur, err := cgcore.ReadUint(m.dir(), "memory.current")
			if err != nil {
				return err
			}
			if uint64(*mem.Limit) < cur {
				return fmt.Errorf("linux.resources.memory.limit: %d is below the current usage %d (memory.checkBeforeUpdate is set)", *mem.Limit, cur)
			}
		}
	}
	if mem.Swap != nil {
		if err := m.needFile("memory.swap.max", "memory.swap"); err != nil {
			return err
		}
		// The spec's swap is memory+swap; v2 limits swap alone.
		sw := "max"
		if *mem.Swap >= 0 {
			limit := int64(0)
			if mem.Limit != nil {
				limit = *mem.Limit
			}
			sw = strconv.FormatInt(*mem.Swap-limit, 10)
		}
		// Write order does not matter on v2 (the limits are
		// independent), but limit first keeps a lowered limit from
		// briefly allowing extra swap.
		if mem.Limit != nil {
			p.Add(m.dir(), "memory.max", max(*mem.Limit))
		}
		p.Add(m.dir(), "memory.swap.max", sw)
	} else if mem.Limit != nil {
		p.Add(m.dir(), "memory.max", max(*mem.Limit))
	}
	if mem.Reservation != nil {
		if err := m.needFile("memory.low", "memory.reservation"); err != nil {
			return err
		}
		p.Add(m.dir(), "memory.low", max(*mem.Reservation))
	}
	return nil
}

func (m *Manager) planIO(b *specs.LinuxBlockIO, p *cgcore.Plan) error {
	if b == nil {
		return nil
	}
	weightFile := func(field string) (string, error) {
		for _, f := range []string{"io.bfq.weight", "io.weight"} {
			if cgcore.Exists(m.dir(), f) {
				return f, nil
			}
		}
		return "", m.needFile("io.weight", field)
	}
	if b.Weight != nil {
		f, err := weightFile("blockIO.weight")
		if err != nil {
			return err
		}
		// io.bfq.weight takes the v1 range 1..1000 as is; io.weight is
		// 1..10000.
		w := uint64(*b.Weight)
		if f == "io.weight" {
			w = cgcore.BlkioWeightToIOWeight(*b.Weight)
		}
		p.Add(m.dir(), f, "default "+strconv.FormatUint(w, 10))
	}
	for i, wd := range b.WeightDevice {
		if wd.Weight == nil {
			continue
		}
		f, err := weightFile(fmt.Sprintf("blockIO.weightDevice[%d]", i))
		if err != nil {
			return err
		}
		w := uint64(*wd.Weight)
		if f == "io.weight" {
			w = cgcore.BlkioWeightToIOWeight(*wd.Weight)
		}
		p.Add(m.dir(), f, fmt.Sprintf("%d:%d %d", wd.Major, wd.Minor, w))
	}
	for _, t := range []struct {
		field, key string
		list       []specs.LinuxThrottleDevice
	}{
		{"throttleReadBpsDevice", "rbps", b.ThrottleReadBpsDevice},
		{"throttleWriteBpsDevice", "wbps", b.ThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", "riops", b.ThrottleReadIOPSDevice},
		{"throttleWriteIOPSDevice", "wiops", b.ThrottleWriteIOPSDevice},
	} {
		for i, d := range t.list {
			if err := m.needFile("io.max", fmt.Sprintf("blockIO.%s[%d]", t.field, i)); err != nil {
				return err
			}
			rate := "max"
			if d.Rate != 0 {
				rate = strconv.FormatUint(d.Rate, 10)
			}
			p.Add(m.dir(), "io.max", fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, t.key, rate))
		}
	}
	return nil
}
