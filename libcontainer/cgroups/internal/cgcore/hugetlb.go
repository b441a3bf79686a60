package cgcore

import (
	"fmt"
	"strconv"
)

// PageSizeName renders a huge page size in bytes as the cgroup file
// infix: 2097152 -> "2MB", 1073741824 -> "1GB", 65536 -> "64KB".
func PageSizeName(bytes uint64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	i := 0
	for bytes >= 1024 && bytes%1024 == 0 && i < len(units)-1 {
		bytes /= 1024
		i++
	}
	return strconv.FormatUint(bytes, 10) + units[i]
}

// HugetlbV2 reads a cgroup v2 directory's counters for one page size:
// hugetlb.<size>.current, and the "max" count of hugetlb.<size>.events as
// the fail count (v2 keeps no high-water mark).
func HugetlbV2(dir, size string) (HugetlbStats, error) {
	var h HugetlbStats
	var err error
	if h.Usage, err = ReadUint(dir, "hugetlb."+size+".current"); err != nil {
		return h, err
	}
	ev, err := ReadKV(dir, "hugetlb."+size+".events")
	if err != nil {
		return h, fmt.Errorf("hugetlb stats: %w", err)
	}
	h.Failcnt = ev["max"]
	return h, nil
}
