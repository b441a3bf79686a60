// Package sigrelay catches the signals a runtime passes on to the process it waits for (`husk
// run`, `exec` and `restore` forward them, as runc does), and hands them to Go on a channel.
//
// os/signal is not used for this: enabling a signal there costs the Go runtime a round trip
// between two threads (to its signal-mask thread), and all sixty of them cost about 1.4 ms of
// wall time and 1.5 ms of CPU on a VM, a seventh of a whole `husk run`. A Relay installs a C
// handler with one sigaction(2) per signal instead; the handler writes the signal's number to
// a pipe, which a goroutine reads.
package sigrelay

// #include "sigrelay.h"
import "C"

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// maxSignal is the highest signal number on Linux (SIGRTMAX).
const maxSignal = 64

// Caught reports whether a Relay catches sig. It catches every signal except those no
// process can catch (SIGKILL, SIGSTOP), those the Go runtime must keep (the faults SIGSEGV,
// SIGBUS, SIGFPE, SIGILL and SIGTRAP; SIGURG, its preemption signal; SIGPROF), SIGCHLD (the
// caller waits for its child instead) and 32-34, which the C libraries keep for themselves.
func Caught(sig unix.Signal) bool {
	switch sig {
	case unix.SIGKILL, unix.SIGSTOP,
		unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP,
		unix.SIGURG, unix.SIGPROF, unix.SIGCHLD, 32, 33, 34:
		return false
	}
	return sig >= 1 && sig <= maxSignal
}

// A Relay delivers the signals the process receives, once Start has installed it.
type Relay struct {
	c chan unix.Signal
}

// Start installs the handlers for every signal Caught reports and returns the Relay that
// delivers them. From then on none of them has its default effect on the process (SIGTERM no
// longer ends it): the caller decides. A process starts at most one Relay; the write end
// of its pipe stays open (close-on-exec) for the life of the process.
func Start() (*Relay, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("signal relay: %w", os.NewSyscallError("pipe2", err))
	}
	var sigs []C.int
	for s := unix.Signal(1); s <= maxSignal; s++ {
		if Caught(s) {
			sigs = append(sigs, C.int(s))
		}
	}
	if rc := C.husk_sigrelay_install(C.int(p[1]), &sigs[0], C.int(len(sigs))); rc != 0 {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, fmt.Errorf("signal relay: %w", os.NewSyscallError("sigaction", unix.Errno(-rc)))
	}
	r := &Relay{c: make(chan unix.Signal, maxSignal)}
	go r.read(os.NewFile(uintptr(p[0]), "sigrelay"))
	return r, nil
}

// Signals returns the channel the caught signals arrive on, in the order they came.
func (r *Relay) Signals() <-chan unix.Signal { return r.c }

func (r *Relay) read(f *os.File) {
	var buf [maxSignal]byte
	for {
		n, err := f.Read(buf[:])
		for _, b := range buf[:n] {
			r.c <- unix.Signal(b)
		}
		if err != nil {
			return
		}
	}
}
