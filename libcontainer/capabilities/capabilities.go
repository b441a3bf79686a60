package capabilities

import (
	"fmt"
	"log/slog"
	"math/bits"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// names holds every capability name husk knows, indexed by number
// (linux/capability.h, up to Linux 5.9).
var names = [...]string{
	unix.CAP_CHOWN:              "CAP_CHOWN",
	unix.CAP_DAC_OVERRIDE:       "CAP_DAC_OVERRIDE",
	unix.CAP_DAC_READ_SEARCH:    "CAP_DAC_READ_SEARCH",
	unix.CAP_FOWNER:             "CAP_FOWNER",
	unix.CAP_FSETID:             "CAP_FSETID",
	unix.CAP_KILL:               "CAP_KILL",
	unix.CAP_SETGID:             "CAP_SETGID",
	unix.CAP_SETUID:             "CAP_SETUID",
	unix.CAP_SETPCAP:            "CAP_SETPCAP",
	unix.CAP_LINUX_IMMUTABLE:    "CAP_LINUX_IMMUTABLE",
	unix.CAP_NET_BIND_SERVICE:   "CAP_NET_BIND_SERVICE",
	unix.CAP_NET_BROADCAST:      "CAP_NET_BROADCAST",
	unix.CAP_NET_ADMIN:          "CAP_NET_ADMIN",
	unix.CAP_NET_RAW:            "CAP_NET_RAW",
	unix.CAP_IPC_LOCK:           "CAP_IPC_LOCK",
	unix.CAP_IPC_OWNER:          "CAP_IPC_OWNER",
	unix.CAP_SYS_MODULE:         "CAP_SYS_MODULE",
	unix.CAP_SYS_RAWIO:          "CAP_SYS_RAWIO",
	unix.CAP_SYS_CHROOT:         "CAP_SYS_CHROOT",
	unix.CAP_SYS_PTRACE:         "CAP_SYS_PTRACE",
	unix.CAP_SYS_PACCT:          "CAP_SYS_PACCT",
	unix.CAP_SYS_ADMIN:          "CAP_SYS_ADMIN",
	unix.CAP_SYS_BOOT:           "CAP_SYS_BOOT",
	unix.CAP_SYS_NICE:           "CAP_SYS_NICE",
	unix.CAP_SYS_RESOURCE:       "CAP_SYS_RESOURCE",
	unix.CAP_SYS_TIME:           "CAP_SYS_TIME",
	unix.CAP_SYS_TTY_CONFIG:     "CAP_SYS_TTY_CONFIG",
	unix.CAP_MKNOD:              "CAP_MKNOD",
	unix.CAP_LEASE:              "CAP_LEASE",
	unix.CAP_AUDIT_WRITE:        "CAP_AUDIT_WRITE",
	unix.CAP_AUDIT_CONTROL:      "CAP_AUDIT_CONTROL",
	unix.CAP_SETFCAP:            "CAP_SETFCAP",
	unix.CAP_MAC_OVERRIDE:       "CAP_MAC_OVERRIDE",
	unix.CAP_MAC_ADMIN:          "CAP_MAC_ADMIN",
	unix.CAP_SYSLOG:             "CAP_SYSLOG",
	unix.CAP_WAKE_ALARM:         "CAP_WAKE_ALARM",
	unix.CAP_BLOCK_SUSPEND:      "CAP_BLOCK_SUSPEND",
	unix.CAP_AUDIT_READ:         "CAP_AUDIT_READ",
	unix.CAP_PERFMON:            "CAP_PERFMON",
	unix.CAP_BPF:                "CAP_BPF",
	unix.CAP_CHECKPOINT_RESTORE: "CAP_CHECKPOINT_RESTORE",
}

// byName maps a capability name to its number.
var byName = func() map[string]int {
	m := make(map[string]int, len(names))
	for i, n := range names {
		m[n] = i
	}
	return m
}()

// Names returns the capability names husk knows, in capability-number order
// (for `husk features`). Some may be unknown to the running kernel; see Last.
func Names() []string {
	return append([]string(nil), names[:]...)
}

// Caps is one parsed process.capabilities: a bitmask per set, bit n for
// capability number n.
type Caps struct {
	Bounding, Effective, Permitted, Inheritable, Ambient uint64
}

// Last returns the highest capability number the running kernel knows
// (the value of /proc/sys/kernel/cap_last_cap). It is found with
// prctl(PR_CAPBSET_READ), which fails with EINVAL above it, so it needs
// no procfs; the result is computed once per process.
func Last() int {
	return lastCap()
}

var lastCap = sync.OnceValue(func() int {
	// Binary search for the highest n where PR_CAPBSET_READ(n) does not
	// return EINVAL. Capability 0 exists on every kernel.
	lo, hi := 0, 63
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(mid), 0, 0, 0); err == unix.EINVAL {
			hi = mid - 1
		} else {
			lo = mid
		}
	}
	return lo
})

// Parse converts c into bitmasks. An unknown name is an error naming the
// field; a name husk knows but the running kernel does not (above Last) is
// left out with a warning, as runc does, so one config works across kernels.
// A nil c yields empty sets: the process gets no capabilities.
func Parse(c *specs.LinuxCapabilities) (*Caps, error) {
	return parse(c, Last())
}

// parse is Parse with the kernel's last capability as a parameter.
func parse(c *specs.LinuxCapabilities, last int) (*Caps, error) {
	var caps Caps
	if c == nil {
		return &caps, nil
	}
	var unsupported []string
	sets := []struct {
		field string
		names []string
		mask  *uint64
	}{
		{"bounding", c.Bounding, &caps.Bounding},
		{"effective", c.Effective, &caps.Effective},
		{"permitted", c.Permitted, &caps.Permitted},
		{"inheritable", c.Inheritable, &caps.Inheritable},
		{"ambient", c.Ambient, &caps.Ambient},
	}
	for _, s := range sets {
		for i, name := range s.names {
			n, ok := byName[name]
			if !ok {
				return nil, fmt.Errorf("process.capabilities.%s[%d]: unknown capability %q", s.field, i, name)
			}
			if n > last {
				unsupported = append(unsupported, name)
				continue
			}
			*s.mask |= 1 << n
		}
	}
	if len(unsupported) > 0 {
		slog.Warn("ignoring capabilities unknown to the running kernel",
			"capabilities", strings.Join(dedup(unsupported), ","), "cap_last_cap", last)
	}
	return &caps, nil
}

func dedup(s []string) []string {
	out := s[:0]
	seen := make(map[string]bool, len(s))
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// String formats a mask as capability names ("CAP_CHOWN,CAP_KILL"), for
// logs and errors.
func String(mask uint64) string {
	var b strings.Builder
	for mask != 0 {
		n := bits.TrailingZeros64(mask)
		mask &^= 1 << n
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(capName(n))
	}
	return b.String()
}

// capName names capability n, also one newer than husk ("cap_41").
func capName(n int) string {
	if n >= 0 && n < len(names) {
		return names[n]
	}
	return "cap_" + strconv.Itoa(n)
}
