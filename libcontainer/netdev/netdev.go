package netdev

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Check validates linux.netDevices without touching the host: every key and name must be a
// valid interface name (at most 15 bytes, no "/", ":" or white space, not "." or ".."), and
// the container needs a network namespace of its own (hasNetNS).
func Check(devices map[string]specs.LinuxNetDevice, hasNetNS bool) error {
	if len(devices) == 0 {
		return nil
	}
	if !hasNetNS {
		return errors.New("linux.netDevices: the container needs a network namespace in linux.namespaces")
	}
	for _, host := range sortedKeys(devices) {
		if err := checkName(host, false); err != nil {
			return fmt.Errorf("linux.netDevices[%q]: %w", host, err)
		}
		if n := devices[host].Name; n != "" {
			if err := checkName(n, true); err != nil {
				return fmt.Errorf("linux.netDevices[%q].name %q: %w", host, n, err)
			}
		}
	}
	return nil
}

// checkName applies the kernel's dev_valid_name(); template allows one "%d", which the
// kernel replaces with the first free number.
func checkName(name string, template bool) error {
	switch {
	case name == "":
		return errors.New("empty interface name")
	case len(name) >= unix.IFNAMSIZ:
		return fmt.Errorf("interface name longer than %d bytes", unix.IFNAMSIZ-1)
	case name == "." || name == "..":
		return errors.New("invalid interface name")
	case strings.ContainsAny(name, "/: \t\n\v\f\r"):
		return errors.New("interface name contains '/', ':' or white space")
	case strings.Contains(name, "%") && (!template || strings.Count(name, "%") != 1 || !strings.Contains(name, "%d")):
		return errors.New("the only template an interface name may hold is one \"%d\"")
	}
	return nil
}

// Move moves each host interface of devices into the network namespace at nsPath (the
// container's /proc/<pid>/ns/net), renamed to its name when one is given, puts back its
// permanent global addresses and sets it up. It stops at the first error; what it moved
// by then goes with the namespace when the failed container's init is killed.
func Move(nsPath string, devices map[string]specs.LinuxNetDevice) error {
	if len(devices) == 0 {
		return nil
	}
	ns, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("linux.netDevices: %w", &os.PathError{Op: "open", Path: nsPath, Err: err})
	}
	defer unix.Close(ns)
	host, err := dial()
	if err != nil {
		return fmt.Errorf("linux.netDevices: %w", err)
	}
	defer host.close()
	inner, err := dialIn(nsPath)
	if err != nil {
		return fmt.Errorf("linux.netDevices: %w", err)
	}
	defer inner.close()
	for _, name := range sortedKeys(devices) {
		if err := moveOne(host, inner, ns, name, devices[name].Name); err != nil {
			return fmt.Errorf("linux.netDevices[%q]: %w", name, err)
		}
	}
	return nil
}

func moveOne(host, inner *conn, ns int, hostName, newName string) error {
	if newName == "" {
		newName = hostName
	}
	l, err := host.linkByName(hostName)
	if errors.Is(err, unix.ENODEV) {
		return errors.New("no such host interface")
	}
	if err != nil {
		return fmt.Errorf("look up host interface: %w", err)
	}
	all, err := host.addresses(l.index)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	// "The runtime MUST preserve existing network interface attributes, including all
	// permanent IP addresses (IFA_F_PERMANENT flag) of any family with global scope
	// (RT_SCOPE_UNIVERSE value)" -OCI runtime-spec config-linux.md. Moving a device to
	// another namespace drops its addresses, so they are read first and added back.
	keep := keptAddresses(all)
	// "If a network device with the specified name already exists in the container
	// namespace, the runtime MUST generate an error". Checked before the move: the kernel
	// moves first and renames after, so its own EEXIST would come with the device gone.
	if !strings.Contains(newName, "%d") {
		if _, err := inner.linkByName(newName); err == nil {
			return fmt.Errorf("an interface named %q exists in the container's network namespace", newName)
		} else if !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("look up %q in the container's network namespace: %w", newName, err)
		}
	}
	// One RTM_NEWLINK both moves and renames: the kernel picks the name in the target
	// namespace, expanding a "%d" template there.
	_, err = host.do(unix.RTM_NEWLINK, unix.NLM_F_ACK, ifInfo(l.index, 0, 0),
		attr{unix.IFLA_NET_NS_FD, u32(uint32(ns))}, attr{unix.IFLA_IFNAME, cstring(newName)})
	switch {
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("an interface named %q exists in the container's network namespace", newName)
	case err != nil:
		return fmt.Errorf("move into the container's network namespace as %q: %w", newName, err)
	}
	moved, err := findMoved(inner, newName, l.mac)
	if err != nil {
		return err
	}
	for _, a := range keep {
		if err := inner.addAddress(moved.index, a); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add address %s to %s: %w", a, moved.name, err)
		}
	}
	// "The runtime MUST set the network device state to "up" after moving it".
	if _, err := inner.do(unix.RTM_NEWLINK, unix.NLM_F_ACK, ifInfo(moved.index, unix.IFF_UP, unix.IFF_UP)); err != nil {
		return fmt.Errorf("set %s up: %w", moved.name, err)
	}
	return nil
}

// findMoved finds the moved interface in the container's namespace: by name, or for a "%d"
// template, whose expansion only the kernel knows, by its hardware address.
func findMoved(inner *conn, name string, mac []byte) (*link, error) {
	if !strings.Contains(name, "%d") {
		l, err := inner.linkByName(name)
		if err != nil {
			return nil, fmt.Errorf("find %q in the container's network namespace: %w", name, err)
		}
		return l, nil
	}
	links, err := inner.links()
	if err != nil {
		return nil, fmt.Errorf("list the container's interfaces: %w", err)
	}
	prefix, _, _ := strings.Cut(name, "%d")
	for _, l := range links {
		if strings.HasPrefix(l.name, prefix) && string(l.mac) == string(mac) {
			return l, nil
		}
	}
	return nil, fmt.Errorf("find %q in the container's network namespace: %w", name, unix.ENODEV)
}

// keptAddresses selects the permanent addresses of global scope.
func keptAddresses(all []address) []address {
	var out []address
	for _, a := range all {
		if a.scope == unix.RT_SCOPE_UNIVERSE && a.flags&unix.IFA_F_PERMANENT != 0 {
			out = append(out, a)
		}
	}
	return out
}

// String renders the address as "family:local/prefix" for errors.
func (a address) String() string {
	for _, at := range a.attrs {
		if at.typ == unix.IFA_LOCAL || at.typ == unix.IFA_ADDRESS {
			return fmt.Sprintf("%s/%d", ipString(at.data), a.prefixLen)
		}
	}
	return fmt.Sprintf("family %d /%d", a.family, a.prefixLen)
}

func ipString(b []byte) string {
	switch len(b) {
	case 4:
		return fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
	case 16:
		var sb strings.Builder
		for i := 0; i < 16; i += 2 {
			if i > 0 {
				sb.WriteByte(':')
			}
			fmt.Fprintf(&sb, "%x", uint16(b[i])<<8|uint16(b[i+1]))
		}
		return sb.String()
	}
	return fmt.Sprintf("%x", b)
}

func sortedKeys(m map[string]specs.LinuxNetDevice) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
