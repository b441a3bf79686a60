package main

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const mountinfoFixture = `25 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
34 30 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpuacct,cpu
36 25 0:32 / /mnt/with\040space rw - tmpfs tmpfs rw
`

const procCgroupFixture = `9:name=systemd:/
4:memory:/process_api/abc
2:cpu,cpuacct:/x
1:cpu:/
0::/
`

func TestParseMountinfo(t *testing.T) {
	ms, err := parseMountinfo(strings.NewReader(mountinfoFixture))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 8 {
		t.Fatalf("got %d mounts, want 8", len(ms))
	}
	if got := ms[7].mountpoint; got != "/mnt/with space" {
		t.Errorf("escaped mountpoint = %q", got)
	}
	if got := ms[2]; got.fstype != "cgroup" || got.superOpts != "rw,cpu" || got.root != "/" {
		t.Errorf("cpu mount = %+v", got)
	}
}

func TestCgroupHierarchies(t *testing.T) {
	ms, err := parseMountinfo(strings.NewReader(mountinfoFixture))
	if err != nil {
		t.Fatal(err)
	}
	got := cgroupHierarchies(ms, procCgroupFixture)
	want := []hierarchy{
		{mountpoint: "/sys/fs/cgroup/cpu", own: "/"},
		{mountpoint: "/sys/fs/cgroup/memory", own: "/process_api/abc"},
		{mountpoint: "/sys/fs/cgroup/systemd", own: "/"},
		{mountpoint: "/sys/fs/cgroup/unified", own: "/"},
		{mountpoint: "/sys/fs/cgroup/cpu,cpuacct", own: "/x"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hierarchies = %+v\nwant %+v", got, want)
	}
}

func TestCgroupCandidates(t *testing.T) {
	hs := []hierarchy{
		{mountpoint: "/sys/fs/cgroup/memory", own: "/process_api/abc"},
		{mountpoint: "/sys/fs/cgroup/pids", own: "/"},
	}
	tests := []struct {
		name string
		ids  []string
		want []string
	}{
		{
			name: "suite names only",
			want: []string{
				"/sys/fs/cgroup/memory/cgrouptest", "/sys/fs/cgroup/memory/process_api/abc/testdir",
				"/sys/fs/cgroup/pids/cgrouptest", "/sys/fs/cgroup/pids/testdir",
			},
		},
		{
			name: "container ids, unsafe ones dropped",
			ids:  []string{"c1", "../etc", "", "a/b"},
			want: []string{
				"/sys/fs/cgroup/memory/cgrouptest", "/sys/fs/cgroup/memory/process_api/abc/testdir",
				"/sys/fs/cgroup/memory/c1", "/sys/fs/cgroup/memory/process_api/abc/c1",
				"/sys/fs/cgroup/pids/cgrouptest", "/sys/fs/cgroup/pids/testdir", "/sys/fs/cgroup/pids/c1",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cgroupCandidates(hs, tt.ids)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("candidates = %q\nwant %q", got, tt.want)
			}
			for _, p := range got {
				if filepath.Clean(p) != p || !strings.HasPrefix(p, "/sys/fs/cgroup/") {
					t.Errorf("unsafe candidate %q", p)
				}
			}
		})
	}
}
