package fs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

func (m *Manager) planCPU(r *specs.LinuxResources, p *cgcore.Plan, _ bool) error {
	c := r.CPU
	if c == nil {
		return nil
	}
	add := func(file, field, val string) error {
		d, err := m.needFile("cpu", file, "cpu."+field)
		if err != nil {
			return err
		}
		p.Add(d, file, val)
		return nil
	}
	if c.Shares != nil && *c.Shares != 0 {
		if err := add("cpu.shares", "shares", strconv.FormatUint(*c.Shares, 10)); err != nil {
			return err
		}
	}
	// Period before quota: a quota is checked against the period in force.
	if c.Period != nil && *c.Period != 0 {
		if err := add("cpu.cfs_period_us", "period", strconv.FormatUint(*c.Period, 10)); err != nil {
			return err
		}
	}
	if c.Quota != nil && *c.Quota != 0 {
		if err := add("cpu.cfs_quota_us", "quota", strconv.FormatInt(*c.Quota, 10)); err != nil {
			return err
		}
	}
	// Burst after quota: the kernel refuses a burst above the quota.
	if c.Burst != nil {
		if err := add("cpu.cfs_burst_us", "burst", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return err
		}
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime > 0 {
		if err := m.planRtParents(c, p); err != nil {
			return err
		}
	}
	if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
		if err := add("cpu.rt_period_us", "realtimePeriod", strconv.FormatUint(*c.RealtimePeriod, 10)); err != nil {
			return err
		}
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
		if err := add("cpu.rt_runtime_us", "realtimeRuntime", strconv.FormatInt(*c.RealtimeRuntime, 10)); err != nil {
			return err
		}
	}
	if c.Idle != nil {
		if err := add("cpu.idle", "idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	return nil
}

// planRtParents gives the cpu directories this manager created above the container's a
// realtime budget at least as large as the container's, parents first: the kernel refuses a
// group more rt_runtime_us/rt_period_us than its parent has, and a new group has none
// (Documentation/scheduler/sched-rt-group.rst). Directories it did not create are never
// written; a budget they lack is the kernel's EINVAL on the first write below them.
func (m *Manager) planRtParents(c *specs.LinuxCPU, p *cgcore.Plan) error {
	leaf, err := m.needFile("cpu", "cpu.rt_runtime_us", "cpu.realtimeRuntime")
	if err != nil {
		return err
	}
	runtime := uint64(*c.RealtimeRuntime)
	var period uint64
	if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
		period = *c.RealtimePeriod
	} else if period, err = cgcore.ReadUint(leaf, "cpu.rt_period_us"); err != nil {
		return fmt.Errorf("linux.resources.cpu.realtimeRuntime: %w", err)
	}
	for _, d := range m.state.Created {
		if d == leaf || !strings.HasPrefix(leaf, d+"/") {
			continue
		}
		cur, err1 := cgcore.ReadUint(d, "cpu.rt_runtime_us")
		curPeriod, err2 := cgcore.ReadUint(d, "cpu.rt_period_us")
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("linux.resources.cpu.realtimeRuntime: %w", err)
		}
		if cur*period >= runtime*curPeriod {
			continue // its share already covers the container's
		}
		if curPeriod != period {
			p.Add(d, "cpu.rt_period_us", strconv.FormatUint(period, 10))
		}
		p.Add(d, "cpu.rt_runtime_us", strconv.FormatUint(runtime, 10))
	}
	return nil
}

func (m *Manager) planCpuset(r *specs.LinuxResources, p *cgcore.Plan, _ bool) error {
	c := r.CPU
	if c == nil {
		return nil
	}
	if c.Cpus != "" {
		d, err := m.needFile("cpuset", "cpuset.cpus", "cpu.cpus")
		if err != nil {
			return err
		}
		p.Add(d, "cpuset.cpus", c.Cpus)
	}
	if c.Mems != "" {
		d, err := m.needFile("cpuset", "cpuset.mems", "cpu.mems")
		if err != nil {
			return err
		}
		p.Add(d, "cpuset.mems", c.Mems)
	}
	return nil
}
