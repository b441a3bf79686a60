package hooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/timerslack"
)

// Names of the hook lists, as in config.json.
const (
	Prestart        = "prestart"
	CreateRuntime   = "createRuntime"
	CreateContainer = "createContainer"
	StartContainer  = "startContainer"
	Poststart       = "poststart"
	Poststop        = "poststop"
)

// outputLimit is how much of a hook's stderr (the last bytes) an error keeps.
const outputLimit = 2048

// waitDelay bounds how long Run waits for a hook's stdout and stderr to be
// closed after it exited: a hook that leaves a daemon holding them open must
// not block container creation.
const waitDelay = time.Second

// Run runs hooks, the hook list called name in config.json, in order, with
// the JSON of state on stdin ("The state of the container MUST be passed to
// hooks over stdin" -OCI spec).
//
// Each hook runs with path hook.Path, argv hook.Args (args[0] is argv[0];
// when args is empty argv is just the path), and the environment exactly
// hook.Env (nothing inherited: no PATH unless given). It runs in its own
// process group; when hook.Timeout seconds pass, the whole group is killed
// with SIGKILL and Run returns an error saying so. A hook that exits
// non-zero yields an error with the end of its stderr (and of its stdout,
// which is otherwise discarded: it must not reach the container's).
//
// Run stops at the first failing hook, except for poststop: "If any poststop
// hook fails, the runtime MUST log a warning, but the remaining hooks and
// lifecycle continue as if the hook had succeeded" -OCI spec, so for
// Poststop all hooks run and the failures come back joined, for the caller
// to log as a warning.
func Run(name string, hooks []specs.Hook, state *specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	if state == nil {
		return fmt.Errorf("run %s hooks: no container state", name)
	}
	stateJSON, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("run %s hooks: marshal state: %w", name, err)
	}
	var errs []error
	for i, h := range hooks {
		if err := runHook(name, i, &h, stateJSON); err != nil {
			if name != Poststop {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runHook runs hooks[i] of the list name.
func runHook(name string, i int, h *specs.Hook, stateJSON []byte) error {
	prefix := "hook " + strconv.Quote(name) + "[" + strconv.Itoa(i) + "] " + h.Path
	if !filepath.IsAbs(h.Path) {
		return fmt.Errorf("%s: path must be absolute", prefix)
	}
	var timeout time.Duration
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("%s: timeout %d must be greater than zero", prefix, *h.Timeout)
		}
		timeout = time.Duration(*h.Timeout) * time.Second
	}
	env := h.Env
	if env == nil {
		env = []string{} // nil would mean "inherit husk's environment"
	}
	var stdout, stderr tailBuffer
	cmd := &exec.Cmd{
		Path:        h.Path,
		Args:        h.Args, // empty means {Path}
		Env:         env,
		Stdin:       bytes.NewReader(stateJSON),
		Stdout:      &stdout,
		Stderr:      &stderr,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
		WaitDelay:   waitDelay,
	}
	if err := timerslack.Fork(cmd.Start); err != nil {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	timedOut := false
	if timeout > 0 {
		timedOut = killOnTimeout(cmd.Process.Pid, timeout)
	}
	err := cmd.Wait()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // exited successfully; a child of it kept stdout or stderr open
	}
	switch {
	case timedOut:
		return fmt.Errorf("%s: timed out after %s%s%s", prefix, timeout,
			stderr.suffix("stderr"), stdout.suffix("stdout"))
	case err != nil:
		return fmt.Errorf("%s: %w%s%s", prefix, err, stderr.suffix("stderr"), stdout.suffix("stdout"))
	}
	return nil
}

// killOnTimeout waits for process pid to exit, without reaping it, for at
// most timeout; then it kills its process group and reports true. As the
// process is not reaped before this returns, its pid, which is also the
// group's id, cannot have been reused by then.
func killOnTimeout(pid int, timeout time.Duration) bool {
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if err != unix.EINTR {
				return
			}
		}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-exited:
		return false
	case <-timer.C:
	}
	// Kill the group: a hook shell's children would otherwise outlive it
	// and keep its output pipes open.
	_ = unix.Kill(-pid, unix.SIGKILL)
	<-exited
	return true
}

// tailBuffer keeps the last outputLimit bytes written to it.
type tailBuffer struct {
	buf     []byte
	dropped int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - outputLimit; over > 0 {
		b.dropped += over
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return n, nil
}

// suffix formats the kept output for an error message, or "".
func (b *tailBuffer) suffix(what string) string {
	out := bytes.TrimSpace(b.buf)
	if len(out) == 0 {
		return ""
	}
	if b.dropped > 0 {
		return fmt.Sprintf("; %s (last %d bytes, %d truncated): %q", what, len(b.buf), b.dropped, out)
	}
	return fmt.Sprintf("; %s: %q", what, out)
}
