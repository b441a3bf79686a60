package libcontainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

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

// Processes lists the pids of every process in the container's cgroup. A stopped
// container may have none, or processes its init left behind (without a pid namespace),
// as runc's ps shows them.
func (c *Container) Processes() ([]int, error) {
	m, err := c.cgroupManager()
	if err != nil {
		return nil, err
	}
	pids, err := m.Pids()
	if err != nil && c.Status() == Stopped && errors.Is(err, os.ErrNotExist) {
		return nil, nil // the cgroup went with the container's last process
	}
	return pids, err
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

// mergeResources overlays the fields update set on the recorded resources. runtime-spec's
// resource fields are pointers or omitempty, so the JSON of upd holds exactly what was set;
// decoding it onto a deep copy of old replaces those fields and keeps the rest.
func mergeResources(old, upd *specs.LinuxResources) *specs.LinuxResources {
	if old == nil {
		return upd
	}
	var out specs.LinuxResources
	b, err := json.Marshal(old)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err == nil {
		b, err = json.Marshal(upd)
	}
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		return upd // cannot happen for these plain types; keep what was applied
	}
	return &out
}
