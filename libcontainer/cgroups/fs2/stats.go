package fs2

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

func optional(err error) error {
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// Stats reads the cgroup's counters; controllers not enabled leave their
// part zero. PSI is filled in where the kernel offers it.
func (m *Manager) Stats() (*cgcore.Stats, error) {
	st := &cgcore.Stats{Hugetlb: map[string]cgcore.HugetlbStats{}}
	d := m.dir()
	var err error
	wrap := func(err error) error { return fmt.Errorf("cgroup stats: %w", err) }

	if kv, err := cgcore.ReadKV(d, "cpu.stat"); err == nil {
		st.CPU.Usage = cgcore.CPUUsage{Total: kv["usage_usec"] * 1000, User: kv["user_usec"] * 1000, Kernel: kv["system_usec"] * 1000}
		st.CPU.Throttling = cgcore.Throttling{Periods: kv["nr_periods"], ThrottledPeriods: kv["nr_throttled"], ThrottledTime: kv["throttled_usec"] * 1000}
	} else if optional(err) != nil {
		return nil, wrap(err)
	}
	for _, f := range []struct {
		file string
		dst  **cgcore.PSIStats
	}{{"cpu.pressure", &st.CPU.PSI}, {"memory.pressure", &st.Memory.PSI}, {"io.pressure", &st.Blkio.PSI}} {
		if *f.dst, err = cgcore.ReadPSI(d, f.file); err != nil {
			return nil, wrap(err)
		}
	}
	for _, f := range []struct {
		file string
		dst  *[]uint16
	}{{"cpuset.cpus.effective", &st.CPUSet.CPUs}, {"cpuset.mems.effective", &st.CPUSet.Mems}} {
		s, err := cgcore.ReadFile(d, f.file)
		if err != nil {
			if optional(err) != nil {
				return nil, wrap(err)
			}
			continue
		}
		if *f.dst, err = cgcore.ParseList(s); err != nil {
			return nil, wrap(err)
		}
	}
	if err := memoryStats(d, st); err != nil {
		return nil, wrap(err)
	}
	if st.Pids.Current, err = cgcore.ReadUint(d, "pids.current"); optional(err) != nil {
		return nil, wrap(err)
	}
	if max, err := cgcore.ReadUint(d, "pids.max"); err == nil && max != ^uint64(0) {
		st.Pids.Limit = max
	}
	if err := ioStats(d, st); err != nil {
		return nil, wrap(err)
	}
	if entries, err := os.ReadDir(d); err == nil {
		for _, e := range entries {
			size, ok := strings.CutPrefix(e.Name(), "hugetlb.")
			if !ok {
				continue
			}
			size, ok = strings.CutSuffix(size, ".current")
			if !ok || strings.Contains(size, ".") {
				continue
			}
			h, err := cgcore.HugetlbV2(d, size)
			if err != nil {
				return nil, wrap(err)
			}
			st.Hugetlb[size] = h
		}
	}
	return st, nil
}

func memoryStats(d string, st *cgcore.Stats) error {
	raw, err := cgcore.ReadKV(d, "memory.stat")
	if err != nil {
		return optional(err)
	}
	st.Memory.Raw = raw
	st.Memory.Cache = raw["file"]
	read := func(file string, dst *uint64) error {
		v, err := cgcore.ReadUint(d, file)
		if err != nil {
			return optional(err)
		}
		*dst = v
		return nil
	}
	for _, f := range []struct {
		file string
		dst  *uint64
	}{
		{"memory.current", &st.Memory.Usage.Usage}, {"memory.max", &st.Memory.Usage.Limit},
		{"memory.peak", &st.Memory.Usage.Max}, {"memory.swap.current", &st.Memory.Swap.Usage},
		{"memory.swap.max", &st.Memory.Swap.Limit}, {"memory.swap.peak", &st.Memory.Swap.Max},
	} {
		if err := read(f.file, f.dst); err != nil {
			return err
		}
	}
	if ev, err := cgcore.ReadKV(d, "memory.events"); err == nil {
		st.Memory.Usage.Failcnt = ev["max"]
	}
	if ev, err := cgcore.ReadKV(d, "memory.swap.events"); err == nil {
		st.Memory.Swap.Failcnt = ev["max"]
	}
	// runc reports swap as memory+swap, like v1's memsw.
	st.Memory.Swap.Usage += st.Memory.Usage.Usage
	return nil
}

// ioStats turns io.stat lines "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..."
// into the v1-shaped recursive entries (io.stat is recursive on v2).
func ioStats(d string, st *cgcore.Stats) error {
	s, err := cgcore.ReadFile(d, "io.stat")
	if err != nil {
		return optional(err)
	}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		maj, min, _ := strings.Cut(f[0], ":")
		major, _ := strconv.ParseUint(maj, 10, 64)
		minor, _ := strconv.ParseUint(min, 10, 64)
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			e := cgcore.BlkioEntry{Major: major, Minor: minor, Value: n}
			switch k {
			case "rbytes":
				e.Op = "Read"
				st.Blkio.IoServiceBytesRecursive = append(st.Blkio.IoServiceBytesRecursive, e)
			case "wbytes":
				e.Op = "Write"
				st.Blkio.IoServiceBytesRecursive = append(st.Blkio.IoServiceBytesRecursive, e)
			case "rios":
				e.Op = "Read"
				st.Blkio.IoServicedRecursive = append(st.Blkio.IoServicedRecursive, e)
			case "wios":
				e.Op = "Write"
				st.Blkio.IoServicedRecursive = append(st.Blkio.IoServicedRecursive, e)
			}
		}
	}
	return nil
}
