package fs

import (
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

// weightFile picks CFQ's blkio.<name> or BFQ's blkio.bfq.<name>.
func (m *Manager) weightFile(name, field string) (dir, file string, err error) {
	d, err := m.need("blkio", field)
	if err != nil {
		return "", "", err
	}
	for _, f := range []string{"blkio." + name, "blkio.bfq." + name} {
		if cgcore.Exists(d, f) {
			return d, f, nil
		}
	}
	return "", "", fmt.Errorf("linux.resources.%s: %s has neither blkio.%s nor blkio.bfq.%s (no CFQ or BFQ I/O scheduler): %w", field, d, name, name, cgcore.ErrNotSupported)
}

func (m *Manager) planBlkio(r *specs.LinuxResources, p *cgcore.Plan, _ bool) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	if b.Weight != nil {
		d, f, err := m.weightFile("weight", "blockIO.weight")
		if err != nil {
			return err
		}
		p.Add(d, f, strconv.FormatUint(uint64(*b.Weight), 10))
	}
	if b.LeafWeight != nil {
		d, f, err := m.weightFile("leaf_weight", "blockIO.leafWeight")
		if err != nil {
			return err
		}
		p.Add(d, f, strconv.FormatUint(uint64(*b.LeafWeight), 10))
	}
	for i, wd := range b.WeightDevice {
		if wd.Weight != nil {
			d, f, err := m.weightFile("weight_device", fmt.Sprintf("blockIO.weightDevice[%d].weight", i))
			if err != nil {
				return err
			}
			p.Add(d, f, fmt.Sprintf("%d:%d %d", wd.Major, wd.Minor, *wd.Weight))
		}
		if wd.LeafWeight != nil {
			d, f, err := m.weightFile("leaf_weight_device", fmt.Sprintf("blockIO.weightDevice[%d].leafWeight", i))
			if err != nil {
				return err
			}
			p.Add(d, f, fmt.Sprintf("%d:%d %d", wd.Major, wd.Minor, *wd.LeafWeight))
		}
	}
	for _, t := range []struct {
		field, file string
		list        []specs.LinuxThrottleDevice
	}{
		{"throttleReadBpsDevice", "blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"throttleWriteBpsDevice", "blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", "blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		for i, dev := range t.list {
			d, err := m.needFile("blkio", t.file, fmt.Sprintf("blockIO.%s[%d]", t.field, i))
			if err != nil {
				return err
			}
			p.Add(d, t.file, fmt.Sprintf("%d:%d %d", dev.Major, dev.Minor, dev.Rate))
		}
	}
	return nil
}
