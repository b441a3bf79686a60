package main

import (
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/sigrelay"
)

// signalForwarder collects the signals husk receives while it waits for a container process,
// to pass them on (forwardAndWait), as runc forwards them all. It catches them with a
// sigrelay.Relay, not os/signal, whose registration of every signal costs about 1.5 ms.
type signalForwarder struct{ relay *sigrelay.Relay }

// startSignalForwarder starts catching signals: from here on a SIGTERM or SIGINT no longer
// ends husk but waits to be passed on.
func startSignalForwarder() (*signalForwarder, error) {
	r, err := sigrelay.Start()
	if err != nil {
		return nil, err
	}
	return &signalForwarder{relay: r}, nil
}

// forwardAndWait forwards the signals husk receives to pid and waits for pid (our child) to
// exit, returning its exit code. tty, if set, is resized on SIGWINCH.
func (f *signalForwarder) forwardAndWait(pid int, tty *ttyProxy) int {
	sigc := f.relay.Signals()
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
		case sig := <-sigc:
			switch sig {
			case unix.SIGPIPE:
				// husk's own broken pipe, not the container's business.
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
