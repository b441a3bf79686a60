package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Environment variables the outer process passes to the namespaced one.
const (
	envInNS   = "HUSKBENCH_IN_NS"
	envWork   = "HUSKBENCH_WORK"
	envRootfs = "HUSKBENCH_ROOTFS"
)

func main() {
	if os.Getenv(envInNS) == "1" {
		os.Exit(inner())
	}
	os.Exit(outer())
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// outer checks the knobs, prepares the bundle and re-executes the benchmark
// in a new mount and cgroup namespace, then removes the work directory.
func outer() int {
	if os.Geteuid() != 0 {
		logf("must run as root (real namespaces and cgroups are used)")
		return 2
	}
	k, notes, err := parseKnobs(os.Getenv, lookPath)
	if err != nil {
		logf("%v", err)
		return 2
	}
	for _, n := range notes {
		logf("note: %s", n)
	}
	rootfs, err := prepareBundle(k.bundle)
	if err != nil {
		logf("%v", err)
		return 1
	}
	if k.config != "" { // fail before entering the namespaces
		base, err := os.ReadFile(k.config)
		if err == nil {
			_, err = newTemplates(rootfs, base)
		}
		if err != nil {
			logf("BENCH_CONFIG: %v", err)
			return 2
		}
	}
	work, err := os.MkdirTemp("", "huskbench-")
	if err != nil {
		logf("make work dir: %v", err)
		return 1
	}
	defer os.RemoveAll(work) // the tmpfs on it lived only in the child's namespace

	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), envInNS+"=1", envWork+"="+work, envRootfs+"="+rootfs)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
	if err := cmd.Start(); err != nil {
		logf("start benchmark in new namespaces: %v", err)
		return 1
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s) // the child cleans up and reports
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		logf("wait for benchmark: %v", err)
		return 1
	}
	return 0
}

// inner runs in the private mount and cgroup namespaces.
func inner() int {
	start := time.Now()
	loadBefore := loadAvg()
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		logf("make mounts private: %v", err)
		return 1
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		logf("become child subreaper: %v", err)
		return 1
	}
	k, notes, err := parseKnobs(os.Getenv, lookPath)
	if err != nil {
		logf("%v", err)
		return 2
	}
	layout, err := setupCgroups()
	if err != nil {
		logf("%v", err)
		return 1
	}
	for _, h := range layout.hidden {
		notes = append(notes, fmt.Sprintf("cgroup2 hierarchy %s hidden (hybrid layout): every runtime sees the same cgroup v1 layout", h))
	}
	work := os.Getenv(envWork)
	if err := unix.Mount("huskbench", work, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700"); err != nil {
		logf("mount tmpfs on %s: %v", work, err)
		return 1
	}
	defer unix.Unmount(work, unix.MNT_DETACH)
	var base []byte
	if k.config != "" {
		if base, err = os.ReadFile(k.config); err != nil {
			logf("read BENCH_CONFIG: %v", err)
			return 1
		}
	}
	tmpl, err := newTemplates(os.Getenv(envRootfs), base)
	if err != nil {
		logf("%v", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM)
	defer stop()
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "HUSKBENCH_") {
			env = append(env, e)
		}
	}
	pr, err := newProcs(env)
	if err != nil {
		logf("%v", err)
		return 1
	}
	b := &bench{
		k: k, ctx: ctx, procs: pr, work: work, tmpl: tmpl, res: newResults(),
		cgName: fmt.Sprintf("huskbench-%d", os.Getpid()),
	}
	defer func() {
		var wg sync.WaitGroup
		for _, rt := range b.rts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.cleanupContainers(rt)
			}()
		}
		wg.Wait()
		if err := removeCgroups(layout.hierarchies, b.cgName); err != nil {
			logf("remove cgroups: %v", err)
		}
	}()
	for _, d := range []string{"b", "state", "log"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o700); err != nil {
			logf("make work dir: %v", err)
			return 1
		}
	}
	for _, s := range k.runtimes {
		rt := &runtimeUT{label: s.label, path: s.path, root: filepath.Join(work, "state", s.label)}
		if err := os.Mkdir(rt.root, 0o700); err != nil {
			logf("make state root: %v", err)
			return 1
		}
		rt.errLog, err = os.OpenFile(filepath.Join(work, "log", s.label+".stderr"), os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
		if err != nil {
			logf("open log: %v", err)
			return 1
		}
		b.rts = append(b.rts, rt)
		rt.version = b.version(rt)
	}
	for _, rt := range b.rts {
		logf("%s: %s (%s)", rt.label, rt.path, rt.version)
	}
	logf("QUICK=%d rounds=%d (sequential %d, parallel %d, rss %d)",
		btoi(k.quick), k.rounds, k.seqRounds, k.parRounds, k.rssRounds)

	if floor, err := b.spawnFloor(); err == nil {
		notes = append(notes, fmt.Sprintf("harness floor (fork, exec and reap of a static busybox true, part of every latency): %.2f ms", floor))
	}
	b.sanity()
	rows := []struct {
		name string
		run  func()
	}{
		{"run", func() { b.rowRun("run", "run_ms", b.tmpl.trueCmd) }},
		{"seccomp", func() { b.rowRun("seccomp", "run_seccomp_ms", b.tmpl.seccomp) }},
		{"split", b.rowSplit},
		{"exec", b.rowExec},
		{"seq", b.rowSeq},
		{"par", b.rowPar},
		{"rss", b.rowRSS},
		{"many", b.rowMany},
	}
	for _, r := range rows {
		if k.skip[r.name] || ctx.Err() != nil {
			continue
		}
		t0 := time.Now()
		logf("row %s ...", r.name)
		r.run()
		logf("row %s done in %.1f s", r.name, time.Since(t0).Seconds())
	}

	if l, err := strconv.ParseFloat(loadBefore, 64); err == nil && l > float64(runtime.NumCPU()) {
		notes = append(notes, fmt.Sprintf("load average %.1f exceeds the %d CPUs: wall times are noisy, CPU per container and RSS are the steadiest figures", l, runtime.NumCPU()))
	}
	info := reportInfo{
		date:        start.UTC().Format("2006-01-02 15:04 UTC"),
		cpus:        runtime.NumCPU(),
		loadBefore:  loadBefore,
		loadAfter:   loadAvg(),
		quick:       k.quick,
		rounds:      k.rounds,
		elapsed:     time.Since(start).Seconds(),
		interrupted: ctx.Err() != nil,
		notes:       notes,
	}
	for _, rt := range b.rts {
		info.runtimes = append(info.runtimes, runtimeInfo{rt.label, rt.path, rt.version})
	}
	if err := writeReport(os.Stdout, info, b.res); err != nil {
		logf("%v", err)
		return 1
	}
	if ctx.Err() != nil {
		return 130
	}
	return 0
}

// version returns the first line of `<runtime> --version`.
func (b *bench) version(rt *runtimeUT) string {
	f, err := os.CreateTemp(b.work, "version-")
	if err != nil {
		return "unknown"
	}
	defer os.Remove(f.Name())
	defer f.Close()
	p, err := b.procs.start([]string{rt.path, "--version"}, f, rt.errLog)
	if err != nil {
		return "unknown"
	}
	if _, err := p.wait(b.ctx, opTimeout); err != nil {
		return "unknown"
	}
	out, err := os.ReadFile(f.Name())
	if err != nil {
		return "unknown"
	}
	if l := lastLines(strings.SplitN(string(out), "\n", 2)[0], 1, 100); l != "" {
		return l
	}
	return "unknown"
}

// spawnFloor returns the median time, in ms, the harness needs to start and
// reap a trivial static program.
func (b *bench) spawnFloor() (float64, error) {
	var xs []float64
	for range 20 {
		p, err := b.procs.start([]string{busyboxPath, "true"}, nil, os.Stderr)
		if err != nil {
			return 0, err
		}
		e, err := p.wait(b.ctx, opTimeout)
		if err != nil {
			return 0, err
		}
		xs = append(xs, ms(e.at.Sub(p.start)))
	}
	return median(xs), nil
}

// sanity runs /bin/true once per runtime, learns whether a foreground run
// leaves state behind (then `delete` is part of every run), and marks a
// runtime that hangs as dead so that it does not cost a timeout per row.
func (b *bench) sanity() {
	for i, rt := range b.rts {
		id := b.newID("s", i)
		dir, err := b.makeBundle(id, b.tmpl.trueCmd)
		if err != nil {
			rt.dead = err.Error()
			continue
		}
		_, err = b.runOnce(rt, id, dir)
		switch {
		case errors.Is(err, errTimeout):
			rt.dead = "sanity check: " + err.Error()
			logf("%s hangs; all rows fail: %v", rt.label, err)
		case err != nil:
			logf("%s cannot run /bin/true (rows will try on their own): %v", rt.label, err)
		}
		b.forceDelete(rt, id)
		b.dropBundle(id)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
