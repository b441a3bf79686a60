package fs

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

func (m *Manager) planPids(r *specs.LinuxResources, p *cgcore.Plan, _ bool) error {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil
	}
	d, err := m.needFile("pids", "pids.max", "pids.limit")
	if err != nil {
		return err
	}
	p.Add(d, "pids.max", cgcore.PidsMax(*r.Pids.Limit))
	return nil
}
