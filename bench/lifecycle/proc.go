package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// errTimeout reports a process that had to be killed because it ran too long.
var errTimeout = errors.New("timed out")

// exitInfo is what wait4 returned for one child.
type exitInfo struct {
	status unix.WaitStatus
	rusage unix.Rusage
	at     time.Time // when wait4 returned
}

// procs starts child processes and owns every wait4 call of the process:
// one goroutine reaps all children, the started ones and the orphaned
// container inits adopted as a child subreaper, and hands each started
// child's exit to whoever waits for it. Exits of children nobody waits for
// (adopted inits) are dropped; those are watched through pidfds instead.
type procs struct {
	mu      sync.Mutex
	waiters map[int]chan exitInfo // by pid; guarded by mu

	kick    chan struct{} // wakes the reaper after a start when it saw ECHILD
	env     []string
	devNull *os.File
}

// newProcs returns a procs whose reaper runs until the process exits.
func newProcs(env []string) (*procs, error) {
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	p := &procs{
		waiters: make(map[int]chan exitInfo),
		kick:    make(chan struct{}, 1),
		env:     env,
		devNull: devNull,
	}
	go p.reap()
	return p, nil
}

func (p *procs) reap() {
	for {
		var ws unix.WaitStatus
		var ru unix.Rusage
		pid, err := unix.Wait4(-1, &ws, 0, &ru)
		at := time.Now()
		switch {
		case err == nil:
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			<-p.kick // no child can appear before the next start
			continue
		default:
			time.Sleep(time.Millisecond)
			continue
		}
		if !ws.Exited() && !ws.Signaled() {
			continue
		}
		p.mu.Lock()
		ch := p.waiters[pid]
		delete(p.waiters, pid)
		p.mu.Unlock()
		if ch != nil {
			ch <- exitInfo{status: ws, rusage: ru, at: at}
		}
	}
}

// proc is one started child.
type proc struct {
	pid   int
	pidfd int
	start time.Time // just before fork
	done  chan exitInfo
}

// start runs argv with stdin on /dev/null in a process group of its own (so a
// terminal's Ctrl-C reaches only the benchmark, which then cleans up).
func (p *procs) start(argv []string, stdout, stderr *os.File) (*proc, error) {
	pidfd := -1
	attr := &syscall.ProcAttr{
		Env:   p.env,
		Files: []uintptr{p.devNull.Fd(), stdout.Fd(), stderr.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true, PidFD: &pidfd},
	}
	ch := make(chan exitInfo, 1)
	// The lock spans fork and registration, so the reaper cannot hand this
	// pid's exit to nobody before the waiter is in place.
	p.mu.Lock()
	t0 := time.Now()
	pid, err := syscall.ForkExec(argv[0], argv, attr)
	if err == nil {
		p.waiters[pid] = ch
	}
	p.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return &proc{pid: pid, pidfd: pidfd, start: t0, done: ch}, nil
}

// wait waits for c to exit; after timeout or when ctx ends it kills c through
// its pidfd (never a reused pid) and still waits for the exit.
func (c *proc) wait(ctx context.Context, timeout time.Duration) (exitInfo, error) {
	if c.pidfd >= 0 {
		defer unix.Close(c.pidfd)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	var err error
	select {
	case e := <-c.done:
		return e, nil
	case <-t.C:
		err = fmt.Errorf("after %v: %w", timeout, errTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if c.pidfd >= 0 {
		_ = unix.PidfdSendSignal(c.pidfd, unix.SIGKILL, nil, 0)
	} else {
		_ = unix.Kill(c.pid, unix.SIGKILL) // no pidfd: not yet reaped, since we hold no exit for it
	}
	return <-c.done, err
}

// adopt registers a waiter for pid, a process that is already our child
// (a container init adopted as subreaper) and has not exited. The caller
// must call forget when it stops waiting.
func (p *procs) adopt(pid int) <-chan exitInfo {
	ch := make(chan exitInfo, 1)
	p.mu.Lock()
	p.waiters[pid] = ch
	p.mu.Unlock()
	return ch
}

// forget drops the waiter of pid, if any.
func (p *procs) forget(pid int) {
	p.mu.Lock()
	delete(p.waiters, pid)
	p.mu.Unlock()
}

// parentOf returns the parent pid of pid from /proc/<pid>/stat.
func parentOf(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse stat of %d: no comm", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, fmt.Errorf("parse stat of %d: too short", pid)
	}
	return strconv.Atoi(f[1])
}

// pidWatch watches a process that is not necessarily our child (a container
// init) through a pidfd; a pidfd turns readable when the process exits.
type pidWatch struct{ fd int }

// watchPid opens a pidfd for pid. It must be called while the process is
// known to be alive (a created container's init blocks until `start`).
func watchPid(pid int) (*pidWatch, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, &os.SyscallError{Syscall: "pidfd_open", Err: err}
	}
	return &pidWatch{fd: fd}, nil
}

// wait returns the time the process was seen to exit.
func (w *pidWatch) wait(timeout time.Duration) (time.Time, error) {
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms <= 0 {
			return time.Time{}, fmt.Errorf("wait for container exit after %v: %w", timeout, errTimeout)
		}
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return time.Time{}, &os.SyscallError{Syscall: "poll", Err: err}
		}
		if n > 0 {
			return time.Now(), nil
		}
	}
}

// close releases the pidfd.
func (w *pidWatch) close() { _ = unix.Close(w.fd) }

// childCPU returns user+system CPU time of all reaped children so far.
func childCPU() (time.Duration, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_CHILDREN, &ru); err != nil {
		return 0, &os.SyscallError{Syscall: "getrusage", Err: err}
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
