package apparmor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/internal/procfs"
)

// ErrNotEnabled is returned (wrapped) when a profile is requested but the
// kernel has no active AppArmor.
var ErrNotEnabled = errors.New("AppArmor is not enabled on this host")

// enabledFile holds "Y" when AppArmor is built in and enabled.
const enabledFile = "/sys/module/apparmor/parameters/enabled"

// IsEnabled reports whether AppArmor is enabled on this host. The answer is
// read once per process.
func IsEnabled() bool {
	return enabled()
}

var enabled = sync.OnceValue(func() bool {
	data, err := os.ReadFile(enabledFile)
	return err == nil && parseEnabled(data)
})

func parseEnabled(data []byte) bool {
	return bytes.Equal(bytes.TrimSpace(data), []byte("Y"))
}

// execAttrs are the files, under /proc/thread-self, that set the profile for
// the next exec: AppArmor's own attribute directory first, then the shared
// legacy file, which older kernels have alone.
var execAttrs = [...]string{"attr/apparmor/exec", "attr/exec"}

// ApplyProfile makes the kernel confine the calling thread with profile
// name at its next execve. An empty name does nothing; a name with AppArmor
// disabled is an error wrapping ErrNotEnabled.
//
// Preconditions: the caller has locked its goroutine to the OS thread
// (runtime.LockOSThread) and execs from that thread.
func ApplyProfile(name string) error {
	if name == "" {
		return nil
	}
	if !IsEnabled() {
		return fmt.Errorf("apply apparmor profile %q: %w", name, ErrNotEnabled)
	}
	return applyProfile(procfs.OpenThreadSelf, name)
}

// applyProfile writes "exec <name>" to the first of execAttrs that exists,
// opened with open.
func applyProfile(open func(sub string, flags int) (*os.File, error), name string) error {
	if strings.ContainsAny(name, "\x00\n") {
		return fmt.Errorf("apply apparmor profile %q: name contains a NUL or newline", name)
	}
	var (
		f   *os.File
		err error
	)
	for _, sub := range execAttrs {
		f, err = open(sub, unix.O_WRONLY)
		if !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("apply apparmor profile %q: %w", name, err)
	}
	_, err = f.Write([]byte("exec " + name))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("apply apparmor profile %q: %w", name, err)
	}
	return nil
}
