package cgcore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ReadProcs lists the pids in dir/cgroup.procs and, recursively, in every
// sub-cgroup.
func ReadProcs(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// A sub-cgroup removed while walking is not an error.
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("walk %s: %w", p, bareErr(err))
		}
		if !d.IsDir() {
			return nil
		}
		s, err := ReadFile(p, "cgroup.procs")
		if err != nil {
			if p != dir && errors.Is(err, unix.ENOENT) {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(s) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("parse pid %q in %s: %w", f, filepath.Join(p, "cgroup.procs"), err)
			}
			pids = append(pids, pid)
		}
		return nil
	})
	slices.Sort(pids)
	return slices.Compact(pids), err
}

// SignalAll sends sig to every pid, ignoring processes that already exited.
func SignalAll(pids []int, sig unix.Signal) error {
	var errs []error
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("kill %d with %s: %w", pid, unix.SignalName(sig), err))
		}
	}
	return errors.Join(errs...)
}

// WaitEmpty polls dir until it holds no process, up to timeout.
func WaitEmpty(dir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		pids, err := ReadProcs(dir)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for %s to empty: %d processes left after %s (pids %v)", dir, len(pids), timeout, pids)
		}
		time.Sleep(delay)
	}
}

// RemoveDirs removes dirs deepest first, retrying EBUSY for a short while
// (the kernel releases an emptied cgroup asynchronously). The deepest ones
// are the container's own cgroups: sub-cgroups that processes made inside
// them are removed too. The others are parents made on the way to them;
// another container's cgroup may live under such a parent by now, and then
// the parent stays. Missing directories are fine.
func RemoveDirs(dirs []string) error {
	sorted := slices.Clone(dirs)
	// Deepest first: longer paths are never parents of shorter ones.
	slices.SortStableFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	sorted = slices.Compact(sorted)
	var errs []error
	for _, d := range sorted {
		parent := slices.ContainsFunc(sorted, func(o string) bool { return strings.HasPrefix(o, d+"/") })
		if err := removeDir(d, !parent); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeDir removes dir; with recursive, the sub-cgroups in it first, else
// a dir holding sub-cgroups is left alone. rmdir is tried before anything
// is listed: a container's cgroup is usually empty by now.
func removeDir(dir string, recursive bool) error {
	deadline := time.Now().Add(2 * time.Second)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY) {
			return fmt.Errorf("rmdir %s: %w", dir, err)
		}
		subs, lerr := subdirs(dir)
		if lerr != nil {
			return fmt.Errorf("remove cgroup %s: %w", dir, bareErr(lerr))
		}
		switch {
		case len(subs) > 0 && !recursive:
			return nil // someone else's cgroups live here now
		case len(subs) > 0:
			for _, sub := range subs {
				if err := removeDir(sub, true); err != nil {
					return err
				}
			}
		case errors.Is(err, unix.ENOTEMPTY) && isFakeTree(dir):
			// Unit tests use plain directories holding plain files.
			return os.RemoveAll(dir)
		case errors.Is(err, unix.EBUSY) && time.Now().Before(deadline):
			time.Sleep(delay)
		default:
			return fmt.Errorf("rmdir %s: %w", dir, err)
		}
	}
}

// subdirs lists the directories in dir.
func subdirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}

// isFakeTree reports whether dir is on an ordinary file system rather than
// cgroupfs: only then may files inside be deleted.
func isFakeTree(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type != unix.CGROUP_SUPER_MAGIC && st.Type != unix.CGROUP2_SUPER_MAGIC
}

// PollUntil calls check every few milliseconds until it returns true, an
// error, or timeout passes (then it returns false, nil).
func PollUntil(timeout time.Duration, check func() (bool, error)) (bool, error) {
	deadline := time.Now().Add(timeout)
	for delay := 100 * time.Microsecond; ; delay = min(2*delay, 20*time.Millisecond) {
		ok, err := check()
		if ok || err != nil {
			return ok, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(delay)
	}
}
