package fs

import (
	"errors"
	"fmt"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

func (m *Manager) freezerDir() (string, error) {
	d, ok := m.state.Paths["freezer"]
	if !ok {
		return "", fmt.Errorf("freezer cgroup is not mounted: %w", cgcore.ErrNotSupported)
	}
	return d, nil
}

// Freeze writes FROZEN to freezer.state and waits until the kernel reports
// FROZEN (it passes through FREEZING while tasks are stopped). On timeout
// the cgroup is thawed again, so no half-frozen container is left behind.
func (m *Manager) Freeze() error {
	d, err := m.freezerDir()
	if err != nil {
		return err
	}
	if err := cgcore.WriteFile(d, "freezer.state", "FROZEN"); err != nil {
		return fmt.Errorf("freeze: %w", err)
	}
	ok, err := cgcore.PollUntil(FreezeTimeout, func() (bool, error) {
		s, err := cgcore.ReadFile(d, "freezer.state")
		if err != nil {
			return false, err
		}
		if s == "FREEZING" {
			// Re-writing FROZEN retries tasks that were in
			// uninterruptible sleep at the first attempt.
			_ = cgcore.WriteFile(d, "freezer.state", "FROZEN")
		}
		return s == "FROZEN", nil
	})
	if err == nil && !ok {
		err = fmt.Errorf("%s: %w after %s", d, cgcore.ErrFreezeTimeout, FreezeTimeout)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("freeze: %w", err), m.Thaw())
	}
	return nil
}

// Thaw writes THAWED to freezer.state.
func (m *Manager) Thaw() error {
	d, err := m.freezerDir()
	if err != nil {
		return err
	}
	if err := cgcore.WriteFile(d, "freezer.state", "THAWED"); err != nil {
		return fmt.Errorf("thaw: %w", err)
	}
	return nil
}

// Paused reports whether freezer.state is FROZEN (or on its way there).
// Without a freezer hierarchy nothing can be paused.
func (m *Manager) Paused() (bool, error) {
	d, ok := m.state.Paths["freezer"]
	if !ok {
		return false, nil
	}
	// freezer.self_freezing tells whether this cgroup itself (not a
	// parent) was frozen; freezer.state would also say FROZEN because of
	// an ancestor.
	if s, err := cgcore.ReadFile(d, "freezer.self_freezing"); err == nil {
		return s == "1", nil
	}
	s, err := cgcore.ReadFile(d, "freezer.state")
	if err != nil {
		return false, fmt.Errorf("read freezer state: %w", err)
	}
	return s == "FROZEN" || s == "FREEZING", nil
}
