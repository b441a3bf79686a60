package libcontainer

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/hooks"
)

// Start releases a created container's init to execute the user process.
func (c *Container) Start() error {
	// The pidfd first: once the FIFO is open the init may exec and exit at once. pidfd
	// checks the init is alive and the recorded process, as Status would.
	pidfd, err := c.pidfd()
	if errors.Is(err, ErrStopped) {
		return fmt.Errorf("cannot start container %q: %w", c.ID(), ErrStopped)
	}
	if err != nil {
		return fmt.Errorf("start container: %w", err)
	}
	defer unix.Close(pidfd)
	// A live init with its FIFO is a created container (Status's test); without the FIFO it
	// has been started. A raw descriptor: the netpoller has no use for it.
	fifoPath := filepath.Join(c.dir, fifoName)
	fifo, err := unix.Open(fifoPath, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		if s := c.Status(); s == Stopped {
			return fmt.Errorf("cannot start container %q: %w", c.ID(), ErrStopped)
		} else if s != Created {
			return fmt.Errorf("cannot start container %q in status %s: %w", c.ID(), s, ErrNotCreated)
		}
	}
	if err != nil {
		return fmt.Errorf("start container: %w", &os.PathError{Op: "open", Path: fifoPath, Err: err})
	}
	defer unix.Close(fifo)
	// The init writes one byte once it has opened the FIFO; if it dies first, its pidfd
	// becomes readable instead.
	fds := []unix.PollFd{{Fd: int32(fifo), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("poll", err)
		}
		break
	}
	var b [1]byte
	n, _ := unix.Read(fifo, b[:])
	if n != 1 {
		// A failing startContainer hook ends the init here: the container is unusable,
		// delete it as for a failing poststart hook.
		err := fmt.Errorf("start container %q: its init exited before it was started (see the container's stderr)", c.ID())
		if derr := c.Destroy(true); derr != nil {
			return fmt.Errorf("%w (and delete: %v)", err, derr)
		}
		return err
	}
	if err := os.Remove(fifoPath); err != nil {
		return err
	}
	if h := c.state.Hooks(); h != nil && len(h.Poststart) > 0 {
		// The init keeps its end open, close-on-exec: end of file means the user process
		// has been exec'd (or the init failed), so poststart hooks run after it, as the
		// spec says. Without hooks, start returns at once, as runc's does.
		waitEOF(fifo)
		// runtime-spec v1.3: "If any poststart hook fails, the runtime MUST generate an
		// error, stop the container, and continue the lifecycle at step 12" (delete).
		if err := hooks.Run("poststart", h.Poststart, c.specState(Running)); err != nil {
			if derr := c.Destroy(true); derr != nil {
				return fmt.Errorf("%w (and delete: %v)", err, derr)
			}
			return err
		}
	}
	return nil
}

// waitEOF blocks until the non-blocking fd reaches end of file.
func waitEOF(fd int) {
	var buf [64]byte
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Read(fd, buf[:])
		if n == 0 && err == nil {
			return
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return
		}
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			return
		}
	}
}

// pidfd opens a pidfd of the init, checking it is still the same process.
func (c *Container) pidfd() (int, error) {
	if c.state.Pid <= 0 {
		return -1, ErrStopped
	}
	fd, err := unix.PidfdOpen(c.state.Pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return -1, ErrStopped
		}
		return -1, os.NewSyscallError("pidfd_open", err)
	}
	// Opened first, checked second: if the start time still matches, fd refers to our init.
	if !c.alive() {
		unix.Close(fd)
		return -1, ErrStopped
	}
	return fd, nil
}

// Signal sends sig to the init, or with all to every process in the container's cgroup.
func (c *Container) Signal(sig unix.Signal, all bool) error {
	if !all {
		// pidfd checks what Status would for "stopped" (a live init, the recorded process);
		// the FIFO and the freezer do not matter for signalling the init.
		fd, err := c.pidfd()
		if err != nil {
			return fmt.Errorf("container %q: %w", c.ID(), ErrNotRunning)
		}
		defer unix.Close(fd)
		if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
			return os.NewSyscallError("pidfd_send_signal", err)
		}
		return nil
	}
	m, err := c.cgroupManager()
	if err != nil {
		return err
	}
	if sig == unix.SIGKILL && c.Status() == Paused {
		defer func() { _ = m.Thaw() }()
	}
	return m.Kill(sig)
}

// waitExit waits up to timeout for the process behind pidfd to exit.
func waitExit(pidfd int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		left := time.Until(deadline)
		if left < 0 {
			return false
		}
		n, err := unix.Poll(fds, int(left/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

// Destroy deletes the container: without force only a created or stopped one (runc deletes a
// created, never-started container without -f; containerd relies on it). It kills what is
// left, removes the cgroup and the state directory, then runs poststop hooks.
func (c *Container) Destroy(force bool) error {
	if _, err := os.Lstat(c.dir); errors.Is(err, os.ErrNotExist) {
		return nil // already deleted (a failed start deletes the container; run follows with delete)
	}
	status := c.Status()
	if (status == Running || status == Paused) && !force {
		return fmt.Errorf("cannot delete container %q that is not stopped: %w", c.ID(), ErrRunning)
	}
	m, mErr := c.cgroupManager()
	if status != Stopped {
		if status == Paused && mErr == nil {
			_ = m.Thaw()
		}
		if fd, err := c.pidfd(); err == nil {
			_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			if !waitExit(fd, 10*time.Second) {
				unix.Close(fd)
				return fmt.Errorf("delete container %q: init %d did not exit after SIGKILL", c.ID(), c.state.Pid)
			}
			unix.Close(fd)
		}
	}
	if mErr == nil {
		if err := m.Destroy(); err != nil {
			return fmt.Errorf("delete container %q: %w", c.ID(), err)
		}
	}
	if err := removeStateDir(c.dir); err != nil {
		return fmt.Errorf("delete container %q: %w", c.ID(), err)
	}
	if h := c.state.Hooks(); h != nil && len(h.Poststop) > 0 {
		// "If any poststop hook fails, the runtime MUST log a warning, but the remaining
		// hooks and lifecycle continue."
		s := c.specState(Stopped)
		s.Pid = 0 // no process any more, as in `husk state` of a stopped container
		if err := hooks.Run("poststop", h.Poststop, s); err != nil {
			slog.Warn("poststop hook failed", "id", c.ID(), "err", err)
		}
	}
	return nil
}

// removeStateDir removes a container's state directory. It usually holds state.json and
// perhaps exec.fifo: unlinking those and rmdir take four system calls where os.RemoveAll
// takes about fifteen; anything else there (a temporary state file, checkpoint files) falls
// back to os.RemoveAll.
func removeStateDir(dir string) error {
	for _, name := range [...]string{stateFile, fifoName} {
		if err := unix.Unlink(filepath.Join(dir, name)); err != nil && err != unix.ENOENT {
			return os.RemoveAll(dir)
		}
	}
	if err := unix.Rmdir(dir); err != nil && err != unix.ENOENT {
		return os.RemoveAll(dir)
	}
	return nil
}

// List returns the IDs of the containers under root.
func List(root string) ([]string, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && ValidateID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// LoadUnlocked reads a container's state without taking its lock (list and state are
// read-only and must not wait behind a long command).
func LoadUnlocked(root, id string) (*Container, error) {
	return load(root, id, false, loadState)
}
