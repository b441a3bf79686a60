package libcontainer

import (
	"encoding/json"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/devices"
)

// dump shows v as JSON, pointers followed.
func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func devRule(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	r := specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Access: access}
	if major >= 0 {
		r.Major = ptr(major)
	}
	if minor >= 0 {
		r.Minor = ptr(minor)
	}
	return r
}

func TestDeviceRules(t *testing.T) {
	denyAll := specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}
	defaults := devices.DefaultAllowList()
	cat := func(parts ...[]specs.LinuxDeviceCgroup) []specs.LinuxDeviceCgroup {
		var out []specs.LinuxDeviceCgroup
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name string
		l    *specs.Linux
		want []specs.LinuxDeviceCgroup
	}{
		{"no resources", &specs.Linux{}, defaults},
		{"deny all first, defaults after", &specs.Linux{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{denyAll}}},
			cat([]specs.LinuxDeviceCgroup{denyAll}, defaults)},
		{"config's rules keep their order", &specs.Linux{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			denyAll, devRule(true, "c", 10, 229, "rw"), devRule(false, "c", 1, 3, "w"),
		}}}, cat([]specs.LinuxDeviceCgroup{denyAll, devRule(true, "c", 10, 229, "rw"), devRule(false, "c", 1, 3, "w")}, defaults)},
		{"linux.devices allowed after the defaults", &specs.Linux{
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{denyAll}},
			Devices:   []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}, {Path: "/dev/loop0", Type: "b", Major: 7, Minor: 0}},
		}, cat([]specs.LinuxDeviceCgroup{denyAll}, defaults, []specs.LinuxDeviceCgroup{devRule(true, "c", 10, 229, "rwm"), devRule(true, "b", 7, 0, "rwm")})},
		{"unbuffered char device is c", &specs.Linux{Devices: []specs.LinuxDevice{{Path: "/dev/x", Type: "u", Major: 4, Minor: 64}}},
			cat(defaults, []specs.LinuxDeviceCgroup{devRule(true, "c", 4, 64, "rwm")})},
		{"FIFO skipped", &specs.Linux{Devices: []specs.LinuxDevice{{Path: "/dev/fifo", Type: "p"}}}, defaults},
		{"device named by a deny rule stays denied", &specs.Linux{
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{denyAll, devRule(false, "c", 10, 229, "rwm")}},
			Devices:   []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}},
		}, cat([]specs.LinuxDeviceCgroup{denyAll, devRule(false, "c", 10, 229, "rwm")}, defaults)},
		{"wildcard rule does not name a device", &specs.Linux{
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{devRule(false, "c", 10, -1, "rwm")}},
			Devices:   []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}},
		}, cat([]specs.LinuxDeviceCgroup{devRule(false, "c", 10, -1, "rwm")}, defaults, []specs.LinuxDeviceCgroup{devRule(true, "c", 10, 229, "rwm")})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before []specs.LinuxDeviceCgroup
			if tt.l.Resources != nil {
				before = append(before, tt.l.Resources.Devices...)
			}
			got := deviceRules(tt.l)
			if !reflect.DeepEqual(got.Devices, tt.want) {
				t.Errorf("got:  %s\nwant: %s", dump(got.Devices), dump(tt.want))
			}
			if tt.l.Resources != nil && !reflect.DeepEqual(tt.l.Resources.Devices, before) {
				t.Errorf("config's rules changed: got %s, want %s", dump(tt.l.Resources.Devices), dump(before))
			}
		})
	}
}

func TestDeviceRulesKeepsOtherResources(t *testing.T) {
	mem := &specs.LinuxMemory{Limit: ptr(int64(1 << 20))}
	l := &specs.Linux{Resources: &specs.LinuxResources{Memory: mem, Pids: &specs.LinuxPids{Limit: ptr(int64(10))}}}
	got := deviceRules(l)
	if got.Memory != mem || got.Pids == nil || *got.Pids.Limit != 10 {
		t.Errorf("got %s, want memory and pids kept", dump(got))
	}
	if got == l.Resources {
		t.Error("deviceRules returned the config's own resources: want a copy")
	}
}
