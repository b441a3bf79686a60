package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups"
)

// Container is one container in a state directory. Methods that change it take the lock of
// the container's directory, so concurrent husk commands on one ID are serialised.
type Container struct {
	root  string // --root
	dir   string // root/id
	state *State
	lock  *os.File
	// initState is the init's state letter (/proc/<pid>/stat) at the last alive.
	initState byte
}

// ID returns the container ID.
func (c *Container) ID() string { return c.state.ID }

// State returns the saved state (from LoadBrief: without Config and Namespaces).
func (c *Container) State() *State {
	_, _ = c.state.cgroupState()
	return c.state
}

// Dir returns the container's state directory.
func (c *Container) Dir() string { return c.dir }

// Load opens the container id under root and locks it until Close.
func Load(root, id string) (*Container, error) {
	return load(root, id, true, loadState)
}

// LoadBrief is Load, or with locked false LoadUnlocked, for the commands that need no more
// of the config than its hooks (start, kill, delete, state, list): the state's Config is nil
// and the state cannot be saved, which spares decoding the whole config.
func LoadBrief(root, id string, locked bool) (*Container, error) {
	return load(root, id, locked, loadBriefState)
}

// LoadForExec is Load for `husk exec`: the state's Config holds only the parts exec uses
// (execConfig) and the state cannot be saved, which spares decoding the rest of the config.
func LoadForExec(root, id string) (*Container, error) {
	return load(root, id, true, loadExecState)
}

func load(root, id string, locked bool, read func(string) (*State, error)) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, id)
	var lock *os.File
	if locked {
		var err error
		if lock, err = lockDir(dir); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
			}
			return nil, err
		}
	}
	s, err := read(dir)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		if errors.Is(err, ErrNotExist) {
			return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
		}
		return nil, err
	}
	return &Container{root: root, dir: dir, state: s, lock: lock}, nil
}

// Close releases the container's lock.
func (c *Container) Close() {
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}

// lockDir takes an exclusive flock on a container's state directory.
func lockDir(dir string) (*os.File, error) {
	// unix.Open, not os.OpenFile: a directory needs no non-blocking mode or netpoller
	// registration (five system calls).
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "flock", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// alive reports whether the init process recorded in the state still runs (and is the same
// process: the start time rules out pid reuse).
func (c *Container) alive() bool {
	if c.state.Pid <= 0 {
		return false
	}
	st, state, err := processStat(c.state.Pid)
	c.initState = state
	return err == nil && st == c.state.StartTime
}

// Status derives the status from the live process, never from a stale file.
func (c *Container) Status() Status {
	if !c.alive() {
		return Stopped
	}
	// A created container can be paused too (as in runc): frozen is asked first, or it
	// would read as created, which can be neither resumed nor killed.
	if c.mayBeFrozen() {
		if m, err := c.cgroupManager(); err == nil {
			if paused, err := m.Paused(); err == nil && paused {
				return Paused
			}
		}
	}
	if _, err := os.Lstat(filepath.Join(c.dir, fifoName)); err == nil {
		return Created
	}
	return Running
}

// mayBeFrozen reports whether the container's cgroup must be asked if it is frozen, from
// the init's state letter that alive read. The v1 freezer (any host that is not pure v2)
// holds a frozen task in an uninterruptible sleep, 'D', and counts a stopped one ('T', 't')
// as frozen where it stands: an init in any other state is not frozen, and list and state
// spare reading the cgroup state and the freezer's file for each container. The v2 freezer
// leaves frozen tasks in an ordinary sleep, so there it always asks.
func (c *Container) mayBeFrozen() bool {
	switch c.initState {
	case 'D', 'T', 't':
		return true
	}
	return hostUnified()
}

// hostUnified reports, once per process, whether /sys/fs/cgroup is a cgroup2 mount.
var hostUnified = sync.OnceValue(func() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) != nil || st.Type == unix.CGROUP2_SUPER_MAGIC
})

func (c *Container) cgroupManager() (cgroups.Manager, error) {
	cg, err := c.state.cgroupState()
	if err != nil {
		return nil, err
	}
	return cgroups.Load(cg)
}

// OCIState returns the state in runc's `state` output shape.
func (c *Container) OCIState() *OCIState {
	s := c.Status()
	pid := c.state.Pid
	if s == Stopped {
		pid = 0
	}
	return &OCIState{
		State: specs.State{
			Version:     specs.Version,
			ID:          c.state.ID,
			Status:      specs.ContainerState(s),
			Pid:         pid,
			Bundle:      c.state.Bundle,
			Annotations: c.state.Annotations,
		},
		Rootfs:  c.state.Rootfs,
		Created: c.state.Created,
		Owner:   c.state.Owner,
	}
}

// OCIState is runtime-spec's state plus runc's extra fields.
type OCIState struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

// specState is the state hooks and seccomp agents receive.
func (c *Container) specState(s Status) *specs.State {
	return &specs.State{
		Version:     specs.Version,
		ID:          c.state.ID,
		Status:      specs.ContainerState(s),
		Pid:         c.state.Pid,
		Bundle:      c.state.Bundle,
		Annotations: c.state.Annotations,
	}
}
