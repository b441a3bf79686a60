// Package userns makes user namespaces whose only job is to carry an ID mapping: the
// namespace handle that mount_setattr(2) takes with MOUNT_ATTR_IDMAP to make an idmapped
// mount. It runs in the parent (husk create), as root in the initial user namespace, so the
// mapping's host IDs are the host's.
package userns
