package cgroups

import "github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"

// Sentinel errors; test with errors.Is.
var (
	// ErrNotSupported: the host lacks a controller, cgroup v2 or systemd
	// that the configuration or operation needs.
	ErrNotSupported = cgcore.ErrNotSupported
	// ErrInvalid: linux.resources fails validation.
	ErrInvalid = cgcore.ErrInvalid
	// ErrFreezeTimeout: the cgroup did not freeze in time; it was thawed.
	ErrFreezeTimeout = cgcore.ErrFreezeTimeout
)
