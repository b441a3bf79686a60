// Package timerslack lets the kernel coalesce the timers of husk's own threads, and gives the
// processes husk starts the timer slack husk was started with.
//
// The Go runtime's monitor thread (sysmon) sleeps 20 µs at a time while a goroutine is busy,
// and a husk command is busy for most of its few milliseconds: about 60 wake-ups, each a pair
// of context switches, in one `husk run`. A C constructor, which runs before the Go runtime
// starts its first thread, widens the calling thread's timer slack (prctl PR_SET_TIMERSLACK)
// to Wide, and every thread the runtime creates inherits it: the monitor's short sleeps then
// end when the kernel has other work to wake for, or after at most Wide. Nothing in husk waits
// on a timer for a result (it waits on file descriptors and child processes), so only the
// retry sleeps of cgroup removal can take up to Wide longer.
//
// A child inherits the slack of the thread that forked it. Fork runs a function that starts
// processes on a thread whose slack is back to the original, so that a container, its hooks
// and criu run with the caller's slack, as under any other runtime.
//
// `husk init` is left alone: it is forked with the original slack and becomes the container.
package timerslack

// #include "timerslack.h"
import "C"

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Wide is the timer slack of husk's own threads, in nanoseconds.
const Wide = C.HUSK_TIMERSLACK_WIDE

// Original returns the timer slack husk was started with, in nanoseconds, when it widened
// it; 0 when it left the slack alone (in `husk init`, or when it was already at least Wide).
func Original() uint64 {
	return uint64(C.husk_timerslack_orig)
}

// Fork calls start, which starts child processes, on a thread locked for the call whose
// timer slack is the original one, and widens the slack again afterwards.
func Fork(start func() error) error {
	orig := Original()
	if orig == 0 {
		return start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(orig), 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl PR_SET_TIMERSLACK", err)
	}
	err := start()
	// Best effort: a thread left with the original slack only wakes more often, and the
	// error must not hide the children start may have started.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, Wide, 0, 0, 0)
	return err
}
