package fs

import (
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

// planHugetlb writes hugetlb.<size>.limit_in_bytes in the v1 hierarchy, or
// hugetlb.<size>.max in the hybrid unified cgroup when hugetlb lives on
// cgroup2 (as on hosts that mount only hugetlb there). Where the kernel
// offers reservation accounting (the .rsvd files) that limit is set too:
// "hugepageLimits defines the hugepage sizes and limits for HugeTLB
// controller reservation accounting" -OCI spec.
func (m *Manager) planHugetlb(r *specs.LinuxResources, p *cgcore.Plan, _ bool) error {
	for i, h := range r.HugepageLimits {
		field := fmt.Sprintf("hugepageLimits[%d]", i)
		limit := strconv.FormatUint(h.Limit, 10)
		if d, ok := m.state.Paths["hugetlb"]; ok {
			f := "hugetlb." + h.Pagesize + ".limit_in_bytes"
			if !cgcore.Exists(d, f) {
				return fmt.Errorf("linux.resources.%s.pageSize: %s has no %s (page size not supported): %w", field, d, f, cgcore.ErrNotSupported)
			}
			p.Add(d, f, limit)
			if rf := "hugetlb." + h.Pagesize + ".rsvd.limit_in_bytes"; cgcore.Exists(d, rf) {
				p.Add(d, rf, limit)
			}
			continue
		}
		d, ok := m.state.Paths[cgcore.UnifiedKey]
		if !ok {
			return fmt.Errorf("linux.resources.%s: hugetlb controller is not mounted: %w", field, cgcore.ErrNotSupported)
		}
		f := "hugetlb." + h.Pagesize + ".max"
		if !cgcore.Exists(d, f) {
			return fmt.Errorf("linux.resources.%s: hugetlb is neither a cgroup v1 hierarchy nor enabled for %s on cgroup v2 (no %s): %w", field, d, f, cgcore.ErrNotSupported)
		}
		p.Add(d, f, limit)
		if rf := "hugetlb." + h.Pagesize + ".rsvd.max"; cgcore.Exists(d, rf) {
			p.Add(d, rf, limit)
		}
	}
	return nil
}
