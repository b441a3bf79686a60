package main

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// signalForwarder collects the signals husk receives while it waits for a container process,
// to pass them on (forwardAndWait). Registering for every signal costs the Go runtime a round
// trip to its signal-mask thread per signal, about 2 ms for all of them: it is done in the
// background while the container is being created, and never undone (signal.Stop would cost
// as much again), as husk exits once the process is gone.
type signalForwarder struct{ c chan os.Signal }

// startSignalForwarder begins registering for every signal, as runc forwards them all.
func startSignalForwarder() *signalForwarder {
	f := &signalForwarder{c: make(chan os.Signal, 64)}
	go signal.Notify(f.c)
	return f
}

// forwardAndWait forwards the signals husk receives to pid and waits for pid (our child) to
// exit, returning its exit code. tty, if set, is resized on SIGWINCH.
func (f *signalForwarder) forwardAndWait(pid int, tty *ttyProxy) int {
	sigc := f.c
	done := make(chan int, 1)
	go func() {
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				done <- 255
				return
			}
			done <- exitCode(ws)
			return
		}
	}()
	for {
		select {
		case code := <-done:
			return code
		case s := <-sigc:
			sig := s.(unix.Signal)
			switch sig {
			case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
				// SIGURG is the Go runtime's own preemption signal.
			case unix.SIGWINCH:
				if tty != nil {
					tty.Resize()
				}
			default:
				_ = unix.Kill(pid, sig)
			}
		}
	}
}
