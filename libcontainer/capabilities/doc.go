// Package capabilities parses a runtime-spec process.capabilities object into
// bitmasks and applies them to the calling thread with raw syscalls: the
// bounding set with prctl(PR_CAPBSET_DROP), effective, permitted and
// inheritable with capset(2), ambient with prctl(PR_CAP_AMBIENT).
//
// Capabilities are per thread (capabilities(7)): callers run on a goroutine
// locked to its OS thread and execve from that thread. The package keeps no
// state besides the kernel's last capability, read once, and does not read
// files on the apply path.
package capabilities
