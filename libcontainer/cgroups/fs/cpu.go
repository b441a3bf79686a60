package fs

import (
	"strconv"

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
