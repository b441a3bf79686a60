package label

import (
	"errors"
	"fmt"

	"github.com/opencontainers/selinux/go-selinux"
	selinuxlabel "github.com/opencontainers/selinux/go-selinux/label"
)

// ErrDisabled is returned (wrapped) when a label is requested but SELinux
// is disabled on this host.
var ErrDisabled = errors.New("SELinux is disabled")

// Enabled reports whether SELinux is enabled on this host (selinuxfs is
// mounted and the kernel labels processes). The answer is computed once.
func Enabled() bool {
	return selinux.GetEnabled()
}

// SetExecLabel sets the SELinux label the kernel gives the calling thread's
// next execve (process.selinuxLabel). An empty label resets it when SELinux
// is enabled and does nothing otherwise.
//
// Preconditions: the caller has locked its goroutine to the OS thread and
// execs from that thread.
func SetExecLabel(l string) error {
	return set("exec", l, selinux.SetExecLabel)
}

// SetKeyLabel sets the SELinux label of the next kernel keyring the process
// creates (the container's session keyring gets the process label). Empty
// labels behave as for SetExecLabel.
//
// Preconditions: the caller is the thread-group leader (the kernel only
// lets it write /proc/self/attr/keycreate).
func SetKeyLabel(l string) error {
	return set("key", l, selinux.SetKeyLabel)
}

// set applies label l of kind with apply, following the package's rules
// for a disabled SELinux.
//
// A non-empty label is written without asking Enabled first: inside the container (after
// pivot_root, or in `husk exec`, which starts in the container's mount namespace) selinuxfs is
// usually not mounted, so the library would wrongly find SELinux disabled. The kernel is the
// judge: on a host without SELinux the write fails, and the error says SELinux is disabled.
func set(kind, l string, apply func(string) error) error {
	if l == "" {
		if !Enabled() {
			return nil
		}
	}
	if err := apply(l); err != nil {
		if l != "" && !Enabled() {
			return fmt.Errorf("set selinux %s label %q: %w", kind, l, ErrDisabled)
		}
		return fmt.Errorf("set selinux %s label %q: %w", kind, l, err)
	}
	return nil
}

// FormatMountOptions returns the mount data opts with context="mountLabel"
// appended when SELinux is enabled and mountLabel is not empty; otherwise
// opts unchanged.
func FormatMountOptions(opts, mountLabel string) string {
	return formatMountOptions(opts, mountLabel, Enabled())
}

func formatMountOptions(opts, mountLabel string, enabled bool) string {
	if !enabled || mountLabel == "" {
		return opts
	}
	// Quoted: an MCS label holds commas ("s0:c1,c2"), which would
	// otherwise split the option.
	ctx := `context="` + mountLabel + `"`
	if opts == "" {
		return ctx
	}
	return opts + "," + ctx
}

// Relabel sets fileLabel on path and everything below it; with shared, the
// MCS level becomes s0 so every container may use the content. It does
// nothing when SELinux is disabled or fileLabel is empty.
func Relabel(path, fileLabel string, shared bool) error {
	if err := selinuxlabel.Relabel(path, fileLabel, shared); err != nil {
		return fmt.Errorf("relabel %s to %q: %w", path, fileLabel, err)
	}
	return nil
}
