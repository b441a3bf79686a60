package devices

import (
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Rule is one device-cgroup entry. Major or Minor -1 is the wildcard "*".
type Rule struct {
	Allow  bool
	Type   byte // 'a', 'b' or 'c'
	Major  int64
	Minor  int64
	Access string // subset of "rwm"
}

// FromSpec converts linux.resources.devices: an empty type means 'a', a
// missing major or minor the wildcard, an empty access "rwm".
func FromSpec(list []specs.LinuxDeviceCgroup) ([]Rule, error) {
	out := make([]Rule, 0, len(list))
	for i, d := range list {
		r := Rule{Allow: d.Allow, Type: 'a', Major: -1, Minor: -1, Access: d.Access}
		switch d.Type {
		case "", "a":
		case "b", "c":
			r.Type = d.Type[0]
		default:
			return nil, fmt.Errorf("linux.resources.devices[%d].type: must be a, b or c, got %q", i, d.Type)
		}
		if d.Major != nil {
			r.Major = *d.Major
		}
		if d.Minor != nil {
			r.Minor = *d.Minor
		}
		if r.Access == "" {
			r.Access = "rwm"
		}
		for _, c := range r.Access {
			if c != 'r' && c != 'w' && c != 'm' {
				return nil, fmt.Errorf("linux.resources.devices[%d].access: must be made of r, w and m, got %q", i, d.Access)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// String renders the rule the way devices.allow and devices.deny take it:
// "c 1:3 rwm", "a *:* rwm".
func (r Rule) String() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	if r.Type == 'a' {
		return "a *:* " + r.Access
	}
	return fmt.Sprintf("%c %s:%s %s", r.Type, num(r.Major), num(r.Minor), r.Access)
}

func ptr(n int64) *int64 { return &n }

// DefaultAllowList returns the device rules runc allows every container in
// addition to its config's own list: mknod of any device, the standard
// character devices (/dev/null, zero, full, tty, random, urandom, console,
// ptmx and pty slaves) and /dev/net/tun. Callers prepend a deny-all rule
// and append the config's rules; it is a helper, never implied.
func DefaultAllowList() []specs.LinuxDeviceCgroup {
	c := func(major, minor int64, access string) specs.LinuxDeviceCgroup {
		d := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: access, Major: ptr(major)}
		if minor >= 0 {
			d.Minor = ptr(minor)
		}
		return d
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: true, Type: "c", Access: "m"}, // mknod any char device
		{Allow: true, Type: "b", Access: "m"}, // mknod any block device
		c(1, 3, "rwm"),                        // /dev/null
		c(1, 5, "rwm"),                        // /dev/zero
		c(1, 7, "rwm"),                        // /dev/full
		c(5, 0, "rwm"),                        // /dev/tty
		c(1, 8, "rwm"),                        // /dev/random
		c(1, 9, "rwm"),                        // /dev/urandom
		c(5, 1, "rwm"),                        // /dev/console
		c(5, 2, "rwm"),                        // /dev/ptmx
		c(136, -1, "rwm"),                     // /dev/pts/*
		c(10, 200, "rwm"),                     // /dev/net/tun
	}
}
