package seccomp

import "errors"

var (
	// ErrInvalidProgram is returned when a Program cannot be loaded or
	// decoded because its filter is empty, too long or malformed.
	ErrInvalidProgram = errors.New("invalid seccomp program")
	// ErrTSync is returned by Load when SECCOMP_FILTER_FLAG_TSYNC was
	// requested and another thread of the process could not take the
	// filter (it already has an incompatible one).
	ErrTSync = errors.New("seccomp filter not synchronised to all threads")
)
