package fs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

// clockTicks is USER_HZ, the unit of cpuacct.stat; 100 on every Linux
// architecture husk supports.
const clockTicks = 100

// Stats reads every mounted controller's counters. A hierarchy that is not
// mounted leaves its part zero; a read error on a mounted one is returned.
func (m *Manager) Stats() (*cgcore.Stats, error) {
	st := &cgcore.Stats{Hugetlb: map[string]cgcore.HugetlbStats{}}
	for _, f := range []func(*cgcore.Stats) error{m.cpuStats, m.cpusetStats, m.memoryStats, m.pidsStats, m.blkioStats, m.hugetlbStats} {
		if err := f(st); err != nil {
			return nil, fmt.Errorf("cgroup stats: %w", err)
		}
	}
	return st, nil
}

func optional(err error) error {
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

func (m *Manager) cpuStats(st *cgcore.Stats) error {
	if d, ok := m.state.Paths["cpu"]; ok {
		kv, err := cgcore.ReadKV(d, "cpu.stat")
		if err != nil {
			return optional(err)
		}
		st.CPU.Throttling = cgcore.Throttling{Periods: kv["nr_periods"], ThrottledPeriods: kv["nr_throttled"], ThrottledTime: kv["throttled_time"]}
	}
	d, ok := m.state.Paths["cpuacct"]
	if !ok {
		return nil
	}
	var err error
	if st.CPU.Usage.Total, err = cgcore.ReadUint(d, "cpuacct.usage"); err != nil {
		return err
	}
	if kv, err := cgcore.ReadKV(d, "cpuacct.stat"); err == nil {
		st.CPU.Usage.User = kv["user"] * (1e9 / clockTicks)
		st.CPU.Usage.Kernel = kv["system"] * (1e9 / clockTicks)
	} else if optional(err) != nil {
		return err
	}
	for _, f := range []struct {
		file string
		dst  *[]uint64
	}{{"cpuacct.usage_percpu", &st.CPU.Usage.Percpu}, {"cpuacct.usage_percpu_sys", &st.CPU.Usage.PercpuKernel}, {"cpuacct.usage_percpu_user", &st.CPU.Usage.PercpuUser}} {
		s, err := cgcore.ReadFile(d, f.file)
		if err != nil {
			if optional(err) == nil {
				continue
			}
			return err
		}
		for _, v := range strings.Fields(s) {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return fmt.Errorf("parse %q in %s/%s: %w", v, d, f.file, err)
			}
			*f.dst = append(*f.dst, n)
		}
	}
	return nil
}

func (m *Manager) cpusetStats(st *cgcore.Stats) error {
	d, ok := m.state.Paths["cpuset"]
	if !ok {
		return nil
	}
	var err error
	for _, f := range []struct {
		file string
		dst  *[]uint16
	}{{"cpuset.cpus", &st.CPUSet.CPUs}, {"cpuset.mems", &st.CPUSet.Mems}} {
		s, rerr := cgcore.ReadFile(d, f.file)
		if rerr != nil {
			return optional(rerr)
		}
		if *f.dst, err = cgcore.ParseList(s); err != nil {
			return fmt.Errorf("%s/%s: %w", d, f.file, err)
		}
	}
	for _, f := range []struct {
		file string
		dst  *uint64
	}{
		{"cpuset.cpu_exclusive", &st.CPUSet.CPUExclusive}, {"cpuset.mem_hardwall", &st.CPUSet.MemHardwall},
		{"cpuset.mem_exclusive", &st.CPUSet.MemExclusive}, {"cpuset.memory_migrate", &st.CPUSet.MemoryMigrate},
		{"cpuset.memory_spread_page", &st.CPUSet.MemorySpreadPage}, {"cpuset.memory_spread_slab", &st.CPUSet.MemorySpreadSlab},
		{"cpuset.memory_pressure", &st.CPUSet.MemoryPressure}, {"cpuset.sched_load_balance", &st.CPUSet.SchedLoadBalance},
	} {
		v, rerr := cgcore.ReadUint(d, f.file)
		if rerr != nil {
			if optional(rerr) == nil {
				continue
			}
			return rerr
		}
		*f.dst = v
	}
	if s, rerr := cgcore.ReadFile(d, "cpuset.sched_relax_domain_level"); rerr == nil {
		st.CPUSet.SchedRelaxDomainLevel, _ = strconv.ParseInt(s, 10, 64)
	}
	return nil
}

func memEntry(d, prefix string) (cgcore.MemoryEntry, error) {
	var e cgcore.MemoryEntry
	for _, f := range []struct {
		file string
		dst  *uint64
	}{{"usage_in_bytes", &e.Usage}, {"max_usage_in_bytes", &e.Max}, {"failcnt", &e.Failcnt}, {"limit_in_bytes", &e.Limit}} {
		v, err := cgcore.ReadUint(d, prefix+f.file)
		if err != nil {
			return e, err
		}
		*f.dst = v
	}
	return e, nil
}

func (m *Manager) memoryStats(st *cgcore.Stats) error {
	d, ok := m.state.Paths["memory"]
	if !ok {
		return nil
	}
	raw, err := cgcore.ReadKV(d, "memory.stat")
	if err != nil {
		return optional(err)
	}
	st.Memory.Raw = raw
	st.Memory.Cache = raw["total_cache"]
	if st.Memory.Cache == 0 {
		st.Memory.Cache = raw["cache"]
	}
	if st.Memory.Usage, err = memEntry(d, "memory."); err != nil {
		return err
	}
	// The memsw, kmem and kmem.tcp counters are missing without swap
	// accounting or kernel memory accounting; leave them zero.
	for _, e := range []struct {
		prefix string
		dst    *cgcore.MemoryEntry
	}{{"memory.memsw.", &st.Memory.Swap}, {"memory.kmem.", &st.Memory.Kernel}, {"memory.kmem.tcp.", &st.Memory.KernelTCP}} {
		v, err := memEntry(d, e.prefix)
		if err != nil {
			if optional(err) == nil || errors.Is(err, unix.EOPNOTSUPP) {
				continue
			}
			return err
		}
		*e.dst = v
	}
	return nil
}

func (m *Manager) pidsStats(st *cgcore.Stats) error {
	d, ok := m.state.Paths["pids"]
	if !ok {
		return nil
	}
	var err error
	if st.Pids.Current, err = cgcore.ReadUint(d, "pids.current"); err != nil {
		return optional(err)
	}
	max, err := cgcore.ReadUint(d, "pids.max")
	if err != nil {
		return optional(err)
	}
	if max != ^uint64(0) {
		st.Pids.Limit = max
	}
	return nil
}

// blkioEntries parses "8:0 Read 123" lines (and "8:0 123" for sectors).
func blkioEntries(d, file string) ([]cgcore.BlkioEntry, error) {
	s, err := cgcore.ReadFile(d, file)
	if err != nil {
		return nil, err
	}
	var out []cgcore.BlkioEntry
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		maj, min, ok := strings.Cut(f[0], ":")
		if !ok {
			continue // "Total 123"
		}
		var e cgcore.BlkioEntry
		e.Major, _ = strconv.ParseUint(maj, 10, 64)
		e.Minor, _ = strconv.ParseUint(min, 10, 64)
		val := f[1]
		if len(f) == 3 {
			e.Op, val = f[1], f[2]
		}
		if e.Value, err = strconv.ParseUint(val, 10, 64); err != nil {
			return nil, fmt.Errorf("parse %q in %s/%s: %w", line, d, file, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func (m *Manager) blkioStats(st *cgcore.Stats) error {
	d, ok := m.state.Paths["blkio"]
	if !ok {
		return nil
	}
	// CFQ's files when present, else BFQ's, else the throttle layer's
	// (which every kernel with blkio has).
	prefix := ""
	switch {
	case cgcore.Exists(d, "blkio.io_service_bytes_recursive"):
		prefix = "blkio."
	case cgcore.Exists(d, "blkio.bfq.io_service_bytes_recursive"):
		prefix = "blkio.bfq."
	default:
		prefix = "blkio.throttle."
	}
	for _, f := range []struct {
		file string
		dst  *[]cgcore.BlkioEntry
	}{
		{"io_service_bytes_recursive", &st.Blkio.IoServiceBytesRecursive}, {"io_serviced_recursive", &st.Blkio.IoServicedRecursive},
		{"io_queued_recursive", &st.Blkio.IoQueuedRecursive}, {"io_service_time_recursive", &st.Blkio.IoServiceTimeRecursive},
		{"io_wait_time_recursive", &st.Blkio.IoWaitTimeRecursive}, {"io_merged_recursive", &st.Blkio.IoMergedRecursive},
		{"time_recursive", &st.Blkio.IoTimeRecursive}, {"sectors_recursive", &st.Blkio.SectorsRecursive},
	} {
		e, err := blkioEntries(d, prefix+f.file)
		if err != nil {
			if optional(err) == nil {
				continue
			}
			return err
		}
		*f.dst = e
	}
	return nil
}

// hugePageSizes lists the host's huge page sizes as cgroup file names
// ("2MB", "1GB") from /sys/kernel/mm/hugepages.
func hugePageSizes() []string {
	entries, err := os.ReadDir("/sys/kernel/mm/hugepages")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(e.Name(), "hugepages-"), "kB"), 10, 64)
		if err != nil {
			continue
		}
		out = append(out, cgcore.PageSizeName(kb*1024))
	}
	return out
}

func (m *Manager) hugetlbStats(st *cgcore.Stats) error {
	d, v1 := m.state.Paths["hugetlb"]
	for _, size := range hugePageSizes() {
		var h cgcore.HugetlbStats
		var err error
		if v1 {
			p := "hugetlb." + size + "."
			if h.Usage, err = cgcore.ReadUint(d, p+"usage_in_bytes"); err != nil {
				return optional(err)
			}
			if h.Max, err = cgcore.ReadUint(d, p+"max_usage_in_bytes"); err != nil {
				return optional(err)
			}
			if h.Failcnt, err = cgcore.ReadUint(d, p+"failcnt"); err != nil {
				return optional(err)
			}
		} else {
			ud, ok := m.state.Paths[cgcore.UnifiedKey]
			if !ok || !cgcore.Exists(ud, "hugetlb."+size+".current") {
				continue
			}
			if h, err = cgcore.HugetlbV2(ud, size); err != nil {
				return err
			}
		}
		st.Hugetlb[size] = h
	}
	return nil
}
