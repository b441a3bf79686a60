package fs

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

// need returns the directory of hierarchy key, or an error naming the
// field that needs it.
func (m *Manager) need(key, field string) (string, error) {
	if d, ok := m.state.Paths[key]; ok {
		return d, nil
	}
	return "", fmt.Errorf("linux.resources.%s: needs the cgroup v1 %s controller, which is not mounted on this host: %w", field, key, cgcore.ErrNotSupported)
}

// needFile is need plus a check that the controller offers file.
func (m *Manager) needFile(key, file, field string) (string, error) {
	d, err := m.need(key, field)
	if err != nil {
		return "", err
	}
	if !cgcore.Exists(d, file) {
		return "", fmt.Errorf("linux.resources.%s: %s has no %s (kernel or I/O scheduler lacks it): %w", field, d, file, cgcore.ErrNotSupported)
	}
	return d, nil
}

// plan computes every write r asks for, in a safe order, or fails before
// any write. update is true for Set on a live cgroup.
func (m *Manager) plan(r *specs.LinuxResources, update bool) (cgcore.Plan, error) {
	var p cgcore.Plan
	if r == nil {
		return p, nil
	}
	for _, step := range []func(*specs.LinuxResources, *cgcore.Plan, bool) error{
		m.planCpuset, m.planCPU, m.planMemory, m.planPids, m.planBlkio,
		m.planHugetlb, m.planNetwork, m.planRdma, m.planDevices,
	} {
		if err := step(r, &p, update); err != nil {
			return nil, err
		}
	}
	return p, nil
}
