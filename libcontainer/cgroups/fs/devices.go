package fs

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/devices"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

func (m *Manager) planDevices(r *specs.LinuxResources, p *cgcore.Plan, _ bool) error {
	if len(r.Devices) == 0 {
		return nil
	}
	rules, err := devices.FromSpec(r.Devices)
	if err != nil {
		return err
	}
	d, err := m.needFile("devices", "devices.allow", "devices")
	if err != nil {
		return err
	}
	for _, rule := range rules {
		f := "devices.deny"
		if rule.Allow {
			f = "devices.allow"
		}
		p.Add(d, f, rule.String())
	}
	return nil
}
