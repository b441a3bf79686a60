package libcontainer

import "errors"

// Sentinel errors; test with errors.Is.
var (
	ErrExist        = errors.New("container with given ID already exists")
	ErrNotExist     = errors.New("container does not exist")
	ErrInvalidID    = errors.New("invalid container ID format")
	ErrNotRunning   = errors.New("container is not running")
	ErrNotCreated   = errors.New("container is not in created state")
	ErrRunning      = errors.New("container is running")
	ErrPaused       = errors.New("container is paused")
	ErrStopped      = errors.New("container is stopped")
	ErrNotPaused    = errors.New("container is not paused")
	ErrNotSupported = errors.New("not supported")
)
