package cgcore

import "errors"

// Sentinel errors, re-exported by package cgroups.
var (
	// ErrNotSupported: the host lacks what a setting or operation needs
	// (a controller, cgroup v2, systemd).
	ErrNotSupported = errors.New("not supported on this host")
	// ErrInvalid: linux.resources fails validation.
	ErrInvalid = errors.New("invalid cgroup configuration")
	// ErrFreezeTimeout: the cgroup did not reach FROZEN in time (it was
	// thawed again).
	ErrFreezeTimeout = errors.New("timed out waiting for the cgroup to freeze")
)
