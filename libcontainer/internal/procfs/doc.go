// Package procfs opens and writes files under /proc without trusting the
// mount table: every open starts from a procfs root that is verified to be a
// real procfs (statfs magic PROC_SUPER_MAGIC, root inode 1) and resolves the
// rest of the path with openat2(2) RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS|
// RESOLVE_NO_XDEV|RESOLVE_BENEATH, so a symlink, a bind mount of another
// procfs file or a tmpfs mounted over the target makes the open fail instead
// of redirecting the write (CVE-2019-16884, CVE-2019-19921, CVE-2025-52881).
//
// The root is, in order of preference, a private procfs instance
// (fsopen/fsmount, Linux 5.2, needs CAP_SYS_ADMIN: it has no overmounts at
// all), a non-recursive clone of /proc (open_tree OPEN_TREE_CLONE: drops
// whatever is mounted under /proc), or /proc itself (overmounts are then
// refused by RESOLVE_NO_XDEV). Resolving needs openat2 (Linux 5.6).
//
// It is used for LSM attributes (/proc/thread-self/attr/...), sysctls
// (/proc/sys/...), oom_score_adj, setgroups and ID maps. It must not grow into
// a general /proc reader: reads of big files do not belong here.
package procfs
