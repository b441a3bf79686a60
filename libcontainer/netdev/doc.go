// Package netdev moves host network interfaces into a container's network namespace
// (runtime-spec v1.3 linux.netDevices), speaking rtnetlink directly over a raw
// AF_NETLINK socket.
//
// It runs in the parent (husk create), after the init reports its pid and before it is
// sent its configuration, so the container process never sees its network half-made.
// It never moves an interface back: "The runtime MUST NOT attempt to move the interface
// out of the namespace before deletion" -OCI runtime-spec config-linux.md. When the
// container's network namespace is freed the kernel returns physical devices to the
// initial namespace and destroys virtual ones (a veth end dies, and its peer with it).
package netdev
