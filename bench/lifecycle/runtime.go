package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// opTimeout bounds one runtime command; a hung runtime fails its row.
const opTimeout = 20 * time.Second

// runtimeUT is one runtime under test.
type runtimeUT struct {
	label   string
	path    string
	root    string // --root, on the benchmark's tmpfs
	version string
	errLog  *os.File // stderr of every command of this runtime (O_APPEND)

	needsDelete bool   // foreground run leaves state behind: delete after run
	deleteKnown bool   // needsDelete has been learnt (after the first successful run)
	dead        string // set when the runtime cannot run at all; every row fails with it
}

// bench holds what every row needs.
type bench struct {
	k      knobs
	ctx    context.Context // ends on SIGINT/SIGTERM
	procs  *procs
	work   string // private tmpfs: bundles, state roots, logs
	cgName string // cgroup directory of this run, under our own cgroup
	tmpl   *templates
	rts    []*runtimeUT
	res    *results
	idSeq  atomic.Int64
}

// opResult is one finished runtime command.
type opResult struct {
	dur    time.Duration // fork to reap
	end    time.Time     // reap
	maxRSS int64         // KiB, ru_maxrss; inflated by our own RSS (see gnuTime)
}

// op runs the runtime with args and returns its timing; an error carries the
// tail of the command's stderr.
func (b *bench) op(rt *runtimeUT, args ...string) (opResult, error) {
	return b.opCtx(b.ctx, rt, nil, nil, args...)
}

// opCtx is op with a context, a stdout (nil: /dev/null) and a wrapper
// command (such as GNU time) that runs the runtime.
func (b *bench) opCtx(ctx context.Context, rt *runtimeUT, stdout *os.File, wrap []string, args ...string) (opResult, error) {
	argv := append(append(append([]string(nil), wrap...), rt.path, "--root", rt.root), args...)
	if stdout == nil {
		stdout = b.procs.devNull
	}
	off := fileSize(rt.errLog)
	p, err := b.procs.start(argv, stdout, rt.errLog)
	if err != nil {
		return opResult{}, fmt.Errorf("%s %s: %w", rt.label, args[0], err)
	}
	e, err := p.wait(ctx, opTimeout)
	res := opResult{dur: e.at.Sub(p.start), end: e.at, maxRSS: e.rusage.Maxrss}
	if err == nil && (!e.status.Exited() || e.status.ExitStatus() != 0) {
		err = errors.New(describeStatus(e.status))
	}
	if err != nil {
		if tail := stderrTail(rt.errLog, off); tail != "" {
			err = fmt.Errorf("%w: %s", err, tail)
		}
		return res, fmt.Errorf("%s %s: %w", rt.label, args[0], err)
	}
	return res, nil
}

// describeStatus words a wait status like the shell does.
func describeStatus(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return fmt.Sprintf("killed by signal %v", ws.Signal())
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

func fileSize(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

// stderrTail returns the last lines written to f after off, on one line.
func stderrTail(f *os.File, off int64) string {
	const maxLen = 400
	end := fileSize(f)
	if end <= off {
		return ""
	}
	if end-off > 4096 {
		off = end - 4096
	}
	buf := make([]byte, end-off)
	n, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return lastLines(string(buf[:n]), 2, maxLen)
}

// lastLines joins the last n non-empty lines of s with " | ", keeping at
// most maxLen bytes from the end.
func lastLines(s string, n, maxLen int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, " | ")
	if len(out) > maxLen {
		out = "..." + out[len(out)-maxLen:]
	}
	return out
}

// newID returns a container id unique to this run, runtime and container.
func (b *bench) newID(tag string, i int) string {
	return fmt.Sprintf("hb%d-%s%d-%d", os.Getpid(), tag, i, b.idSeq.Add(1))
}

func (b *bench) bundleDir(id string) string { return filepath.Join(b.work, "b", id) }

// makeBundle writes a bundle for id (config only; the rootfs is shared and
// read-only) whose cgroup nests under this run's cgroup.
func (b *bench) makeBundle(id string, tmpl []byte) (string, error) {
	dir := b.bundleDir(id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("make bundle: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), config(tmpl, b.cgName+"/"+id), 0o600); err != nil {
		return "", fmt.Errorf("make bundle: %w", err)
	}
	return dir, nil
}

func (b *bench) dropBundle(id string) { _ = os.RemoveAll(b.bundleDir(id)) }

// runOnce runs a container in the foreground to its exit, plus `delete`
// when the runtime keeps state after a foreground run.
func (b *bench) runOnce(rt *runtimeUT, id, bundle string) (time.Duration, error) {
	r, err := b.op(rt, "run", "--bundle", bundle, id)
	if err != nil {
		return 0, err
	}
	d := r.dur
	if !rt.deleteKnown {
		rt.learnNeedsDelete(b, id)
	}
	if rt.needsDelete {
		r, err := b.op(rt, "delete", id)
		if err != nil {
			return 0, err
		}
		d += r.dur
	}
	return d, nil
}

// learnNeedsDelete asks the runtime, after a successful foreground run of
// id, whether it still knows the container; if so every run is timed with
// its `delete`.
func (rt *runtimeUT) learnNeedsDelete(b *bench, id string) {
	rt.deleteKnown = true
	if _, err := b.op(rt, "state", id); err == nil {
		rt.needsDelete = true
		logf("%s keeps state after a foreground run: run is timed with delete", rt.label)
	}
}

// forceDelete removes a container whatever its state, ignoring errors; used
// to tidy up after a failure.
func (b *bench) forceDelete(rt *runtimeUT, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, _ = b.opCtx(ctx, rt, nil, nil, "delete", "-f", id)
}

// create runs `create` with a pid file and returns the timing and init pid.
func (b *bench) create(rt *runtimeUT, id, bundle string) (opResult, int, error) {
	return b.createWrapped(rt, nil, id, bundle)
}

// createWrapped is create run through the wrapper command wrap.
func (b *bench) createWrapped(rt *runtimeUT, wrap []string, id, bundle string) (opResult, int, error) {
	pidFile := filepath.Join(bundle, "pid")
	r, err := b.opCtx(b.ctx, rt, nil, wrap, "create", "--bundle", bundle, "--pid-file", pidFile, id)
	if err != nil {
		return r, 0, err
	}
	pid, err := readPidFile(pidFile)
	if err != nil {
		return r, 0, fmt.Errorf("%s create: %w", rt.label, err)
	}
	return r, pid, nil
}

// readPidFile reads the init pid a runtime wrote with --pid-file.
func readPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("parse pid file %s: bad pid %q", path, b)
	}
	return pid, nil
}

// vmRSS returns the resident set size of pid in KiB.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("read status of %d: no VmRSS", pid)
}

// lifecycleTimes are the phases of one create/start/wait/delete.
type lifecycleTimes struct{ create, start, wait, delete time.Duration }

// lifecycle creates, starts, waits for the exit of and deletes a container.
// The init's exit is watched through a pidfd opened while it waits in
// create, so it is seen the moment it happens.
func (b *bench) lifecycle(rt *runtimeUT, id, bundle string) (lt lifecycleTimes, retErr error) {
	defer func() {
		if retErr != nil {
			b.forceDelete(rt, id)
		}
	}()
	rc, pid, err := b.create(rt, id, bundle)
	if err != nil {
		return lt, err
	}
	w, err := watchPid(pid)
	if err != nil {
		return lt, fmt.Errorf("%s create: watch init %d: %w", rt.label, pid, err)
	}
	defer w.close()
	// When the runtime left no process behind, the init is our child now
	// (we are a subreaper) and its exit status tells whether /bin/true ran.
	var status <-chan exitInfo
	if ppid, err := parentOf(pid); err == nil && ppid == os.Getpid() {
		status = b.procs.adopt(pid)
		defer b.procs.forget(pid)
	}
	off := fileSize(rt.errLog)
	rs, err := b.op(rt, "start", id)
	if err != nil {
		return lt, err
	}
	exited, err := w.wait(opTimeout)
	if err != nil {
		return lt, fmt.Errorf("%s start: %w", rt.label, err)
	}
	if status != nil {
		select {
		case e := <-status:
			if !e.status.Exited() || e.status.ExitStatus() != 0 {
				err := fmt.Errorf("%s start: container init %d: %s, want /bin/true's exit status 0", rt.label, pid, describeStatus(e.status))
				if tail := stderrTail(rt.errLog, off); tail != "" {
					err = fmt.Errorf("%w: %s", err, tail)
				}
				return lt, err
			}
		case <-time.After(time.Second):
		}
	}
	rd, err := b.op(rt, "delete", id)
	if err != nil {
		return lt, err
	}
	return lifecycleTimes{create: rc.dur, start: rs.dur, wait: max(0, exited.Sub(rs.end)), delete: rd.dur}, nil
}

// cleanupContainers force-deletes every container left in rt's state root.
func (b *bench) cleanupContainers(rt *runtimeUT) {
	entries, err := os.ReadDir(rt.root)
	if err != nil {
		return
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			ids = append(ids, e.Name())
		}
	}
	b.forceDeleteAll(rt, ids, true)
}

// forceDeleteAll force-deletes ids, a few at a time (runc's delete -f alone
// takes 100 ms); with kill it sends SIGKILL through the runtime first.
func (b *bench) forceDeleteAll(rt *runtimeUT, ids []string, kill bool) {
	ch := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ch {
				if kill {
					ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
					_, _ = b.opCtx(ctx, rt, nil, nil, "kill", id, "KILL")
					cancel()
				}
				b.forceDelete(rt, id)
			}
		}()
	}
	for _, id := range ids {
		if id != "" {
			ch <- id
		}
	}
	close(ch)
	wg.Wait()
}

// ms converts a duration to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
