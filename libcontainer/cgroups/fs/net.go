package fs

import (
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

func (m *Manager) planNetwork(r *specs.LinuxResources, p *cgcore.Plan, _ bool) error {
	n := r.Network
	if n == nil {
		return nil
	}
	if n.ClassID != nil {
		d, err := m.needFile("net_cls", "net_cls.classid", "network.classID")
		if err != nil {
			return err
		}
		p.Add(d, "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10))
	}
	for i, prio := range n.Priorities {
		d, err := m.needFile("net_prio", "net_prio.ifpriomap", fmt.Sprintf("network.priorities[%d]", i))
		if err != nil {
			return err
		}
		p.Add(d, "net_prio.ifpriomap", fmt.Sprintf("%s %d", prio.Name, prio.Priority))
	}
	return nil
}

func (m *Manager) planRdma(r *specs.LinuxResources, p *cgcore.Plan, _ bool) error {
	if len(r.Rdma) == 0 {
		return nil
	}
	d, err := m.needFile("rdma", "rdma.max", "rdma")
	if err != nil {
		return err
	}
	for _, line := range cgcore.RdmaLines(r.Rdma) {
		p.Add(d, "rdma.max", line)
	}
	return nil
}
