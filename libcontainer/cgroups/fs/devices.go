package fs

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/devices"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

// planDevices writes the rules in order to devices.allow and devices.deny;
// the v1 controller applies each on top of the previous state, the order
// runtime-spec lists are read in ("deny all", then the allowed devices).
// On a live cgroup a list starting with deny-all leaves a short window in
// which the allowed devices are denied.
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
