package cgcore

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Version is the cgroup hierarchy version resources are written to.
type Version int

// Hierarchy versions.
const (
	V1 Version = 1
	V2 Version = 2
)

func (v Version) String() string { return fmt.Sprintf("cgroup v%d", int(v)) }

// validPageSize reports whether s looks like ^[1-9][0-9]*[KMG]B$ ("64KB", "2MB", "1GB").
func validPageSize(s string) bool {
	n := len(s)
	if n < 3 || s[n-1] != 'B' || strings.IndexByte("KMG", s[n-2]) < 0 || s[0] < '1' || s[0] > '9' {
		return false
	}
	for i := 1; i < n-2; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Validate checks r for version v before anything is written, so that Set
// is all or nothing where the kernel allows. Every problem is reported, each
// naming its field (`linux.resources.memory.swap: ...`); the result wraps
// ErrInvalid.
func Validate(r *specs.LinuxResources, v Version) error {
	if r == nil {
		return nil
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("linux.resources.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	v1Only := func(field string) {
		if v == V2 {
			bad(field, "has no cgroup v2 equivalent (this host uses cgroup v2)")
		}
	}
	if m := r.Memory; m != nil {
		for _, f := range []struct {
			name string
			val  *int64
		}{{"limit", m.Limit}, {"reservation", m.Reservation}, {"swap", m.Swap}, {"kernel", m.Kernel}, {"kernelTCP", m.KernelTCP}} {
			if f.val != nil && *f.val < -1 {
				bad("memory."+f.name, "must be -1 (unlimited) or >= 0, got %d", *f.val)
			}
		}
		if m.Swap != nil && m.Limit != nil && *m.Swap > 0 && *m.Limit > 0 && *m.Swap < *m.Limit {
			bad("memory.swap", "must be >= memory.limit (%d), got %d", *m.Limit, *m.Swap)
		}
		if m.Swap != nil && *m.Swap > 0 && m.Limit != nil && *m.Limit == -1 {
			bad("memory.swap", "must be -1 when memory.limit is -1 (unlimited), got %d", *m.Swap)
		}
		if v == V2 && m.Swap != nil && *m.Swap > 0 && m.Limit == nil {
			bad("memory.swap", "needs memory.limit on cgroup v2 (memory.swap.max is swap minus limit)")
		}
		if m.Swappiness != nil {
			if *m.Swappiness > 100 {
				bad("memory.swappiness", "must be 0 to 100, got %d", *m.Swappiness)
			}
			v1Only("memory.swappiness")
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			v1Only("memory.disableOOMKiller")
		}
		if m.UseHierarchy != nil && !*m.UseHierarchy && v == V2 {
			bad("memory.useHierarchy", "cgroup v2 accounting is always hierarchical")
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 && (*c.Shares < 2 || *c.Shares > 262144) {
			bad("cpu.shares", "must be 2 to 262144, got %d", *c.Shares)
		}
		if c.Quota != nil && (*c.Quota < -1 || (*c.Quota > 0 && *c.Quota < 1000)) {
			bad("cpu.quota", "must be -1 (unlimited), 0 (unset) or >= 1000 microseconds, got %d", *c.Quota)
		}
		if c.Period != nil && *c.Period != 0 && (*c.Period < 1000 || *c.Period > 1000000) {
			bad("cpu.period", "must be 1000 to 1000000 microseconds, got %d", *c.Period)
		}
		// "If specified, this value MUST be no larger than any positive
		// quota (runtimes MAY generate an error)." -OCI spec.
		if c.Burst != nil && c.Quota != nil && *c.Quota > 0 && *c.Burst > uint64(*c.Quota) {
			bad("cpu.burst", "must be <= cpu.quota (%d), got %d", *c.Quota, *c.Burst)
		}
		if c.RealtimeRuntime != nil && *c.RealtimeRuntime < -1 {
			bad("cpu.realtimeRuntime", "must be -1 or >= 0, got %d", *c.RealtimeRuntime)
		}
		if c.RealtimeRuntime != nil && c.RealtimePeriod != nil && *c.RealtimeRuntime > 0 && uint64(*c.RealtimeRuntime) > *c.RealtimePeriod {
			bad("cpu.realtimeRuntime", "must be <= cpu.realtimePeriod (%d), got %d", *c.RealtimePeriod, *c.RealtimeRuntime)
		}
		if (c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0) || (c.RealtimePeriod != nil && *c.RealtimePeriod != 0) {
			v1Only("cpu.realtimeRuntime/realtimePeriod")
		}
		if _, err := ParseList(c.Cpus); err != nil {
			bad("cpu.cpus", "%v", err)
		}
		if _, err := ParseList(c.Mems); err != nil {
			bad("cpu.mems", "%v", err)
		}
		if c.Idle != nil && *c.Idle != 0 && *c.Idle != 1 {
			bad("cpu.idle", "must be 0 or 1, got %d", *c.Idle)
		}
	}
	// "-1 indicating no limit (max)" -OCI spec v1.3; below that is a mistake, as for memory.
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit < -1 {
		bad("pids.limit", "must be -1 (unlimited) or >= 0, got %d", *p.Limit)
	}
	if b := r.BlockIO; b != nil {
		if b.Weight != nil && (*b.Weight < 10 || *b.Weight > 1000) {
			bad("blockIO.weight", "must be 10 to 1000, got %d", *b.Weight)
		}
		if b.LeafWeight != nil {
			if *b.LeafWeight < 10 || *b.LeafWeight > 1000 {
				bad("blockIO.leafWeight", "must be 10 to 1000, got %d", *b.LeafWeight)
			}
			v1Only("blockIO.leafWeight")
		}
		for i, d := range b.WeightDevice {
			f := fmt.Sprintf("blockIO.weightDevice[%d]", i)
			if d.Weight == nil && d.LeafWeight == nil {
				bad(f, "needs weight or leafWeight")
			}
			if d.Weight != nil && (*d.Weight < 10 || *d.Weight > 1000) {
				bad(f+".weight", "must be 10 to 1000, got %d", *d.Weight)
			}
			if d.LeafWeight != nil {
				if *d.LeafWeight < 10 || *d.LeafWeight > 1000 {
					bad(f+".leafWeight", "must be 10 to 1000, got %d", *d.LeafWeight)
				}
				v1Only(f + ".leafWeight")
			}
			if d.Major < 0 || d.Minor < 0 {
				bad(f, "major and minor must be >= 0, got %d:%d", d.Major, d.Minor)
			}
		}
		for name, list := range map[string][]specs.LinuxThrottleDevice{
			"throttleReadBpsDevice": b.ThrottleReadBpsDevice, "throttleWriteBpsDevice": b.ThrottleWriteBpsDevice,
			"throttleReadIOPSDevice": b.ThrottleReadIOPSDevice, "throttleWriteIOPSDevice": b.ThrottleWriteIOPSDevice,
		} {
			for i, d := range list {
				if d.Major < 0 || d.Minor < 0 {
					bad(fmt.Sprintf("blockIO.%s[%d]", name, i), "major and minor must be >= 0, got %d:%d", d.Major, d.Minor)
				}
			}
		}
	}
	for i, h := range r.HugepageLimits {
		if !validPageSize(h.Pagesize) {
			bad(fmt.Sprintf("hugepageLimits[%d].pageSize", i), "must look like 64KB, 2MB or 1GB, got %q", h.Pagesize)
		}
	}
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		v1Only("network")
		for i, p := range n.Priorities {
			if p.Name == "" || strings.ContainsAny(p.Name, " \n/") {
				bad(fmt.Sprintf("network.priorities[%d].name", i), "invalid interface name %q", p.Name)
			}
		}
	}
	for dev, l := range r.Rdma {
		if l.HcaHandles == nil && l.HcaObjects == nil {
			bad(fmt.Sprintf("rdma[%q]", dev), "needs hcaHandles or hcaObjects")
		}
		if dev == "" || strings.ContainsAny(dev, " \n") {
			bad("rdma", "invalid device name %q", dev)
		}
	}
	if len(r.Unified) > 0 && v == V1 {
		bad("unified", "needs cgroup v2 (this host uses cgroup v1)")
	}
	for k := range r.Unified {
		if strings.Contains(k, "/") || !strings.Contains(k, ".") || strings.HasPrefix(k, ".") {
			bad(fmt.Sprintf("unified[%q]", k), "must name a file in the cgroup directory, like \"memory.high\"")
		}
		switch k {
		case "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.kill", "cgroup.freeze", "cgroup.type":
			bad(fmt.Sprintf("unified[%q]", k), "is managed by the runtime")
		}
	}
	for i, d := range r.Devices {
		f := fmt.Sprintf("devices[%d]", i)
		switch d.Type {
		case "", "a", "b", "c":
		default:
			bad(f+".type", "must be a, b or c, got %q", d.Type)
		}
		if strings.Trim(d.Access, "rwm") != "" {
			bad(f+".access", "must be made of r, w and m, got %q", d.Access)
		}
		if (d.Major != nil && *d.Major < -1) || (d.Minor != nil && *d.Minor < -1) {
			bad(f, "major and minor must be >= -1 (wildcard)")
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
}

// SharesToWeight converts v1 cpu.shares (2..262144) to v2 cpu.weight
// (1..10000) on the same linear scale as runc and crun, so that a config
// means the same on both: weight = 1 + ((shares-2)*9999)/262142.
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares < 2 {
		shares = 2
	}
	return 1 + ((shares-2)*9999)/262142
}

// BlkioWeightToIOWeight converts a v1 blkio weight (10..1000) to a v2
// io.weight (1..10000) linearly.
func BlkioWeightToIOWeight(w uint16) uint64 {
	if w == 0 {
		return 0
	}
	return 1 + (uint64(w)-10)*9999/990
}

// PidsMax renders linux.resources.pids.limit: "-1 indicating no limit
// (max)" and "0 is a valid limit value ... and SHOULD be treated as such"
// -OCI spec v1.3. Validate rejects values below -1; any negative value
// renders as no limit, as in runc.
func PidsMax(limit int64) string {
	if limit < 0 {
		return "max"
	}
	return strconv.FormatInt(limit, 10)
}

// RdmaLines renders linux.resources.rdma as rdma.max lines, one per device,
// in device-name order: "mlx5_1 hca_handle=3 hca_object=10000".
func RdmaLines(m map[string]specs.LinuxRdma) []string {
	devs := make([]string, 0, len(m))
	for d := range m {
		devs = append(devs, d)
	}
	slices.Sort(devs)
	var out []string
	for _, d := range devs {
		l := m[d]
		line := d
		if l.HcaHandles != nil {
			line += " hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10)
		}
		if l.HcaObjects != nil {
			line += " hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10)
		}
		out = append(out, line)
	}
	return out
}
