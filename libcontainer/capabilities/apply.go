package capabilities

import (
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"os"

	"golang.org/x/sys/unix"
)

// DropBounding drops from the calling thread's bounding set every capability
// not in c.Bounding, with prctl(PR_CAPBSET_DROP). It needs CAP_SETPCAP, so
// call it while still privileged, before changing user. A capability that is
// already absent is not an error.
func (c *Caps) DropBounding() error {
	last := Last()
	for n := 0; n <= last; n++ {
		if c.Bounding&(1<<n) != 0 {
			continue
		}
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(n), 0, 0, 0)
		if err == nil {
			continue
		}
		if errors.Is(err, unix.EPERM) {
			// Without CAP_SETPCAP the drop fails even for a capability
			// that is already gone; only a present one is a failure.
			if in, rerr := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0); rerr == nil && in == 0 {
				continue
			}
		}
		return fmt.Errorf("drop bounding capability %s: %w", capName(n), os.NewSyscallError("prctl PR_CAPBSET_DROP", err))
	}
	return nil
}

// Apply sets the calling thread's effective, permitted and inheritable sets
// with capset(2) (version 3 header, 64-bit masks), then clears the ambient
// set and raises each capability of c.Ambient (prctl PR_CAP_AMBIENT).
//
// After setresuid(2) from root, the permitted set survives only with
// prctl(PR_SET_KEEPCAPS, 1) set before (the effective set is always
// cleared), so the usual order is DropBounding, PR_SET_KEEPCAPS,
// setresgid/setresuid, Apply. An ambient capability must also be permitted
// and inheritable (capabilities(7)); otherwise raising it fails with EPERM.
func (c *Caps) Apply() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{
			Effective:   uint32(c.Effective),
			Permitted:   uint32(c.Permitted),
			Inheritable: uint32(c.Inheritable),
		},
		{
			Effective:   uint32(c.Effective >> 32),
			Permitted:   uint32(c.Permitted >> 32),
			Inheritable: uint32(c.Inheritable >> 32),
		},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("set capabilities effective=%s permitted=%s inheritable=%s: %w",
			String(c.Effective), String(c.Permitted), String(c.Inheritable), os.NewSyscallError("capset", err))
	}
	return c.applyAmbient()
}

func (c *Caps) applyAmbient() error {
	err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	if err != nil {
		if errors.Is(err, unix.EINVAL) && c.Ambient == 0 {
			return nil // Linux < 4.3 has no ambient set; nothing asked for.
		}
		return fmt.Errorf("clear ambient capabilities: %w", os.NewSyscallError("prctl PR_CAP_AMBIENT_CLEAR_ALL", err))
	}
	for mask := c.Ambient; mask != 0; mask &= mask - 1 {
		n := bits.TrailingZeros64(mask)
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(n), 0, 0); err != nil {
			// The kernel raises an ambient capability only if it is also permitted and
			// inheritable. `runc spec` lists ambient capabilities without inheritable ones,
			// and runc and crun run such configs, warning: so does husk.
			if errors.Is(err, unix.EPERM) {
				slog.Warn("ambient capability not raised: it must also be permitted and inheritable", "capability", capName(n))
				continue
			}
			return fmt.Errorf("raise ambient capability %s: %w", capName(n), os.NewSyscallError("prctl PR_CAP_AMBIENT_RAISE", err))
		}
	}
	return nil
}
