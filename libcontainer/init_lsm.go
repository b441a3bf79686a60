package libcontainer

import (
	"github.com/husk-runtime/husk/libcontainer/apparmor"
	"github.com/husk-runtime/husk/libcontainer/label"
)

// applyAppArmor arranges process.apparmorProfile for the next execve.
func applyAppArmor(profile string) error { return apparmor.ApplyProfile(profile) }

// applyExecLabel sets the SELinux label of the next execve.
func applyExecLabel(l string) error { return label.SetExecLabel(l) }

// formatMountLabel adds the SELinux mount context to fs data.
func formatMountLabel(data, mountLabel string) string {
	return label.FormatMountOptions(data, mountLabel)
}
