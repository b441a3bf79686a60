// Package rootfs builds a container's filesystem view inside `husk init`: mount propagation,
// the rootfs bind, every config.json mount in order, /dev and its devices, masked and
// read-only paths, and pivot_root.
//
// Every path inside the rootfs is resolved with pathrs-lite (openat2 RESOLVE_IN_ROOT where the
// kernel has it) to an O_PATH handle, and mounts target "/proc/self/fd/N" of that handle, so a
// symlink in the image, or one swapped in by a racing process, cannot redirect a mount out of
// the rootfs (CVE-2021-30465, CVE-2024-45310).
//
// It runs only in the container's own mount namespace, never in the parent, but for
// OpenIDMapped (idmap.go): the parent makes idmapped mounts, which need privilege over the
// source's filesystem that an init in a user namespace lacks, and the init attaches them.
package rootfs
