package fs

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

// OOMEvents registers an eventfd for memory.oom_control through
// cgroup.event_control (Documentation/admin-guide/cgroup-v1/memory.rst,
// "Memory thresholds" and "OOM Control"). The kernel also signals the
// eventfd when the cgroup is removed; the channel is then closed, as it is
// when ctx ends.
func (m *Manager) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	d, ok := m.state.Paths["memory"]
	if !ok {
		return nil, fmt.Errorf("oom events: memory cgroup is not mounted: %w", cgcore.ErrNotSupported)
	}
	oomPath := filepath.Join(d, "memory.oom_control")
	oom, err := os.Open(oomPath)
	if err != nil {
		return nil, fmt.Errorf("oom events: %w", err)
	}
	defer oom.Close()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("oom events: eventfd: %w", err)
	}
	// A non-blocking fd goes to Go's poller, so Close below wakes Read.
	ev := os.NewFile(uintptr(efd), "eventfd")
	if err := cgcore.WriteFile(d, "cgroup.event_control", fmt.Sprintf("%d %d", efd, oom.Fd())); err != nil {
		ev.Close()
		return nil, fmt.Errorf("oom events: %w", err)
	}
	ch := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { ev.Close() })
	go func() {
		defer close(ch)
		defer stop()
		defer ev.Close()
		buf := make([]byte, 8)
		for {
			if _, err := ev.Read(buf); err != nil {
				return
			}
			if _, err := os.Stat(d); err != nil {
				return // cgroup removed
			}
			for n := binary.NativeEndian.Uint64(buf); n > 0; n-- {
				select {
				case ch <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch, nil
}
