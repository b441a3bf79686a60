package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	in := `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 / /mnt/with\040space rw - ext4 /dev/vda rw
`
	got, err := parseMountinfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []mountEntry{
		{"/sys/fs/cgroup", "tmpfs", []string{"rw", "mode=755"}},
		{"/sys/fs/cgroup/cpu", "cgroup", []string{"rw", "cpu"}},
		{"/sys/fs/cgroup/systemd", "cgroup", []string{"rw", "xattr", "release_agent=/x", "name=systemd"}},
		{"/sys/fs/cgroup/unified", "cgroup2", []string{"rw"}},
		{"/mnt/with space", "ext4", []string{"rw"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got: %+v\nwant: %+v", got, want)
	}
	if _, err := parseMountinfo(strings.NewReader("1 2 3\n")); err == nil {
		t.Error("line without separator: got no error")
	}
}

func TestV1MountData(t *testing.T) {
	tests := []struct {
		name string
		opts []string
		want string
	}{
		{"single controller", []string{"rw", "cpu"}, "cpu"},
		{"co-mounted", []string{"rw", "cpu", "cpuacct"}, "cpu,cpuacct"},
		{"named without release agent", []string{"rw", "xattr", "release_agent=/lib/x", "name=systemd"}, "xattr,name=systemd"},
		{"read-only", []string{"ro", "pids"}, "pids"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := v1MountData(tc.opts); got != tc.want {
				t.Errorf("got: %q, want: %q", got, tc.want)
			}
		})
	}
}

func TestUnescapeOctal(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/plain", "/plain"},
		{`/a\040b`, "/a b"},
		{`/tab\011x\134`, "/tab\tx\\"},
		{`/short\04`, `/short\04`},
	}
	for _, tc := range tests {
		if got := unescapeOctal(tc.in); got != tc.want {
			t.Errorf("unescapeOctal(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}
