// Package apparmor arranges the AppArmor profile (process.apparmorProfile)
// that the kernel applies at the calling thread's next execve, by writing
// "exec <profile>" to /proc/thread-self/attr/apparmor/exec (or the legacy
// /proc/thread-self/attr/exec before LSM stacking, Linux 5.1).
//
// The write goes through internal/procfs, so a symlink or mount planted over
// the attribute file makes it fail rather than silently leave the process
// unconfined (CVE-2019-16884, CVE-2025-52881). The package does not load or
// parse profiles: they must already be loaded in the kernel.
package apparmor
