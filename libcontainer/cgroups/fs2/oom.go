package fs2

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

// OOMEvents watches memory.events with inotify (the kernel signals a
// modification when a counter changes) and sends one value per increase
// of its oom_kill count. The channel is closed when ctx ends or the cgroup
// is removed.
func (m *Manager) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	d := m.dir()
	if !cgcore.Exists(d, "memory.events") {
		return nil, fmt.Errorf("oom events: %s has no memory.events (memory controller not enabled): %w", d, cgcore.ErrNotSupported)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("oom events: inotify_init1: %w", err)
	}
	ino := os.NewFile(uintptr(fd), "inotify")
	evPath := filepath.Join(d, "memory.events")
	if _, err := unix.InotifyAddWatch(fd, evPath, unix.IN_MODIFY|unix.IN_DELETE_SELF); err != nil {
		ino.Close()
		return nil, fmt.Errorf("oom events: watch %s: %w", evPath, err)
	}
	last := oomKills(d)
	ch := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { ino.Close() })
	go func() {
		defer close(ch)
		defer stop()
		defer ino.Close()
		buf := make([]byte, 4096)
		for {
			n, err := ino.Read(buf)
			if err != nil || n < unix.SizeofInotifyEvent {
				return
			}
			if _, err := os.Stat(evPath); err != nil {
				return // cgroup removed (IN_DELETE_SELF / IN_IGNORED)
			}
			cur := oomKills(d)
			for ; last < cur; last++ {
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

func oomKills(d string) uint64 {
	ev, err := cgcore.ReadKV(d, "memory.events")
	if err != nil {
		return 0
	}
	return ev["oom_kill"]
}
