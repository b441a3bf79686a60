package libcontainer

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups"
)

// Pause freezes every process of a running container.
func (c *Container) Pause() error {
	switch s := c.Status(); s {
	case Running, Created:
	case Paused:
		return fmt.Errorf("container %q: %w", c.ID(), ErrPaused)
	default:
		return fmt.Errorf("cannot pause container %q: %w", c.ID(), ErrNotRunning)
	}
	m, err := c.cgroupManager()
	if err != nil {
		return err
	}
	return m.Freeze()
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	if s := c.Status(); s != Paused {
		return fmt.Errorf("cannot resume container %q: %w", c.ID(), ErrNotPaused)
	}
	m, err := c.cgroupManager()
	if err != nil {
		return err
	}
	return m.Thaw()
}

// Processes lists the pids of every process in the container's cgroup.
func (c *Container) Processes() ([]int, error) {
	if c.Status() == Stopped {
		return nil, fmt.Errorf("container %q: %w", c.ID(), ErrNotRunning)
	}
	m, err := c.cgroupManager()
	if err != nil {
		return nil, err
	}
	return m.Pids()
}

// Update changes the resources of a live container and records them in its state.
func (c *Container) Update(r *specs.LinuxResources) error {
	if s := c.Status(); s == Stopped {
		return fmt.Errorf("cannot update container %q: %w", c.ID(), ErrNotRunning)
	}
	m, err := c.cgroupManager()
	if err != nil {
		return err
	}
	unsetZeroWeights(r)
	if err := m.Set(r); err != nil {
		return err
	}
	spec := c.state.Config
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	spec.Linux.Resources = mergeResources(spec.Linux.Resources, r)
	c.state.Cgroup = m.State()
	return saveState(c.dir, c.state)
}

// Stats returns the cgroup statistics of a live container.
func (c *Container) Stats() (*cgroups.Stats, error) {
	if c.Status() == Stopped {
		return nil, fmt.Errorf("container %q: %w", c.ID(), ErrNotRunning)
	}
	m, err := c.cgroupManager()
	if err != nil {
		return nil, err
	}
	return m.Stats()
}

// OOMEvents streams the container's OOM kills until ctx ends.
func (c *Container) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	m, err := c.cgroupManager()
	if err != nil {
		return nil, err
	}
	return m.OOMEvents(ctx)
}

// mergeResources overlays the fields update set on the recorded resources.
func mergeResources(old, upd *specs.LinuxResources) *specs.LinuxResources {
	if old == nil {
		return upd
	}
	out := *old
	if upd.Memory != nil {
		if out.Memory == nil {
			out.Memory = &specs.LinuxMemory{}
		}
		m := *out.Memory
		u := upd.Memory
		if u.Limit != nil {
			m.Limit = u.Limit
		}
		if u.Reservation != nil {
			m.Reservation = u.Reservation
		}
		if u.Swap != nil {
			m.Swap = u.Swap
		}
		if u.Swappiness != nil {
			m.Swappiness = u.Swappiness
		}
		if u.DisableOOMKiller != nil {
			m.DisableOOMKiller = u.DisableOOMKiller
		}
		out.Memory = &m
	}
	if upd.CPU != nil {
		if out.CPU == nil {
			out.CPU = &specs.LinuxCPU{}
		}
		cp := *out.CPU
		u := upd.CPU
		if u.Shares != nil {
			cp.Shares = u.Shares
		}
		if u.Quota != nil {
			cp.Quota = u.Quota
		}
		if u.Period != nil {
			cp.Period = u.Period
		}
		if u.RealtimeRuntime != nil {
			cp.RealtimeRuntime = u.RealtimeRuntime
		}
		if u.RealtimePeriod != nil {
			cp.RealtimePeriod = u.RealtimePeriod
		}
		if u.Cpus != "" {
			cp.Cpus = u.Cpus
		}
		if u.Mems != "" {
			cp.Mems = u.Mems
		}
		if u.Burst != nil {
			cp.Burst = u.Burst
		}
		if u.Idle != nil {
			cp.Idle = u.Idle
		}
		out.CPU = &cp
	}
	if upd.Pids != nil {
		out.Pids = upd.Pids
	}
	if upd.BlockIO != nil {
		out.BlockIO = upd.BlockIO
	}
	if upd.Unified != nil {
		out.Unified = upd.Unified
	}
	if upd.HugepageLimits != nil {
		out.HugepageLimits = upd.HugepageLimits
	}
	if upd.Rdma != nil {
		out.Rdma = upd.Rdma
	}
	return &out
}
