package main

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// forwardAndWait forwards the signals husk receives to pid and waits for pid (our child) to
// exit, returning its exit code. tty, if set, is resized on SIGWINCH.
func forwardAndWait(pid int, tty *ttyProxy) int {
	sigc := make(chan os.Signal, 64)
	signal.Notify(sigc)
	defer signal.Stop(sigc)
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
