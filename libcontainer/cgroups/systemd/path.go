package systemd

import (
	"fmt"
	"path"
	"strings"
)

// Unit names a scope: the slice it lives in and the scope unit's name.
type Unit struct {
	Slice string // "system.slice"
	Name  string // "husk-<id>.scope"
}

// ParseCgroupsPath reads runc's systemd cgroupsPath syntax
// "slice:prefix:name": the unit is "prefix-name.scope" (or "name" itself
// when it already ends in ".slice"), the slice defaults to system.slice
// (user.slice when rootless), and an empty path means ":husk:<id>".
func ParseCgroupsPath(p, id string, rootless bool) (Unit, error) {
	if p == "" {
		p = ":husk:" + id
	}
	parts := strings.Split(p, ":")
	if len(parts) != 3 {
		return Unit{}, fmt.Errorf("linux.cgroupsPath %q: with the systemd driver it must be \"slice:prefix:name\"", p)
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if name == "" {
		return Unit{}, fmt.Errorf("linux.cgroupsPath %q: empty unit name", p)
	}
	for _, s := range parts {
		if strings.Contains(s, "/") {
			return Unit{}, fmt.Errorf("linux.cgroupsPath %q: slice, prefix and name must not contain \"/\"", p)
		}
	}
	if slice == "" {
		slice = "system.slice"
		if rootless {
			slice = "user.slice"
		}
	}
	if _, err := ExpandSlice(slice); err != nil {
		return Unit{}, fmt.Errorf("linux.cgroupsPath %q: %w", p, err)
	}
	u := Unit{Slice: slice}
	switch {
	case strings.HasSuffix(name, ".slice"):
		u.Name = name
	case prefix == "":
		u.Name = name + ".scope"
	default:
		u.Name = prefix + "-" + name + ".scope"
	}
	return u, nil
}

// ExpandSlice turns a slice name into its cgroup path: systemd nests
// "a-b-c.slice" as /a.slice/a-b.slice/a-b-c.slice (systemd.slice(5)).
func ExpandSlice(slice string) (string, error) {
	name, ok := strings.CutSuffix(slice, ".slice")
	if !ok || name == "" || strings.Contains(slice, "/") {
		return "", fmt.Errorf("invalid slice name %q: must be like \"system.slice\"", slice)
	}
	if name == "-" {
		return "/", nil
	}
	if strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") || strings.Contains(name, "--") {
		return "", fmt.Errorf("invalid slice name %q: dashes separate non-empty parts", slice)
	}
	out, prefix := "/", ""
	for _, part := range strings.Split(name, "-") {
		prefix += part
		out = path.Join(out, prefix+".slice")
		prefix += "-"
	}
	return out, nil
}

// CgroupPath is the scope's cgroup path relative to the hierarchy root.
func (u Unit) CgroupPath() string {
	s, _ := ExpandSlice(u.Slice)
	return path.Join(s, u.Name)
}
