package rootfs

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestOpenIDMappedRefusals(t *testing.T) {
	ids := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	for _, tc := range []struct {
		name   string
		mount  specs.Mount
		userNS string
		want   string // "" means no idmapped mount and no error
	}{
		{"plain bind", specs.Mount{Destination: "/a", Source: "/tmp", Options: []string{"bind"}}, "", ""},
		{"tmpfs", specs.Mount{Destination: "/a", Type: "tmpfs", Options: []string{"idmap"}, UIDMappings: ids, GIDMappings: ids}, "",
			`mounts[0] (destination "/a"): idmap: only bind mounts can be idmapped`},
		{"uid only", specs.Mount{Destination: "/a", Source: "/tmp", Options: []string{"bind", "idmap"}, UIDMappings: ids}, "",
			"each must be specified along with the other"},
		{"gid only, no option", specs.Mount{Destination: "/a", Source: "/tmp", Options: []string{"bind"}, GIDMappings: ids}, "",
			"each must be specified along with the other"},
		{"no mapping, no userns", specs.Mount{Destination: "/a", Source: "/tmp", Options: []string{"rbind", "ridmap"}}, "",
			"ridmap: no uidMappings and gidMappings, and the container has no user namespace"},
		{"container userns missing", specs.Mount{Destination: "/a", Source: "/tmp", Options: []string{"bind", "idmap"}}, "/nonexistent/ns/user",
			"no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := OpenIDMapped([]specs.Mount{tc.mount}, "/bundle", tc.userNS)
			for _, m := range got {
				m.File.Close()
			}
			switch {
			case tc.want == "" && (err != nil || len(got) != 0):
				t.Errorf("got: %d mounts, error %v; want: none", len(got), err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got: %v, want: an error containing %q", err, tc.want)
			}
		})
	}
}
