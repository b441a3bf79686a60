package devices

import (
	"fmt"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

// WriteV1 writes rules in order to dir's devices.allow and devices.deny.
// The v1 controller applies each write on top of the previous state, which
// is also the order the runtime-spec list is read in ("deny all", then the
// allowed devices). On a live cgroup a list starting with deny-all leaves a
// short window in which the allowed devices are denied.
func WriteV1(dir string, rules []Rule) error {
	for _, r := range rules {
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		if err := cgcore.WriteFile(dir, file, r.String()); err != nil {
			return fmt.Errorf("set device rule: %w", err)
		}
	}
	return nil
}
