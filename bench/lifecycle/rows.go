package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// each runs fn for n rounds; every round runs each runtime once, starting
// with a different runtime each round so that no runtime always follows the
// same one. A runtime that fails is recorded against the row's metrics and
// left out for the rest of the row.
func (b *bench) each(row string, n int, fn func(round, i int, rt *runtimeUT) error) {
	keys := metricKeys(row)
	failed := make([]bool, len(b.rts))
	for i, rt := range b.rts {
		if rt.dead != "" {
			b.res.fail(rt.label, keys, errors.New(rt.dead))
			failed[i] = true
		}
	}
	for r := 0; r < n; r++ {
		for k := range b.rts {
			i := (k + r) % len(b.rts)
			if failed[i] {
				continue
			}
			if b.ctx.Err() != nil {
				return
			}
			if err := fn(r, i, b.rts[i]); err != nil {
				failed[i] = true
				b.fail(b.rts[i].label, keys, err)
				logf("%s: %v", row, err)
			}
		}
	}
}

// fail records err against label's metrics, unless the benchmark is being
// interrupted (then the error is ours, not the runtime's).
func (b *bench) fail(label string, metrics []string, err error) {
	if b.ctx.Err() == nil {
		b.res.fail(label, metrics, err)
	}
}

// rowRun times a foreground run of /bin/true (plus delete when needed).
func (b *bench) rowRun(row, metric string, tmpl []byte) {
	b.each(row, b.k.rounds, func(_, i int, rt *runtimeUT) error {
		id := b.newID(row[:1], i)
		dir, err := b.makeBundle(id, tmpl)
		if err != nil {
			return err
		}
		defer b.dropBundle(id)
		d, err := b.runOnce(rt, id, dir)
		if err != nil {
			b.forceDelete(rt, id)
			return err
		}
		b.res.add(metric, rt.label, ms(d))
		return nil
	})
}

// rowSplit times create, start, wait for exit and delete separately.
func (b *bench) rowSplit() {
	b.each("split", b.k.rounds, func(_, i int, rt *runtimeUT) error {
		id := b.newID("l", i)
		dir, err := b.makeBundle(id, b.tmpl.trueCmd)
		if err != nil {
			return err
		}
		defer b.dropBundle(id)
		lt, err := b.lifecycle(rt, id, dir)
		if err != nil {
			return err
		}
		b.res.add("create_ms", rt.label, ms(lt.create))
		b.res.add("start_ms", rt.label, ms(lt.start))
		b.res.add("wait_ms", rt.label, ms(lt.wait))
		b.res.add("delete_ms", rt.label, ms(lt.delete))
		b.res.add("lifecycle_ms", rt.label, ms(lt.create+lt.start+lt.wait+lt.delete))
		return nil
	})
}

// rowExec times `exec <id> /bin/true` into a running sleep container per
// runtime.
func (b *bench) rowExec() {
	ids := make([]string, len(b.rts))
	started := make([]error, len(b.rts))
	for i, rt := range b.rts {
		if rt.dead != "" {
			continue
		}
		ids[i] = b.newID("x", i)
		dir, err := b.makeBundle(ids[i], b.tmpl.sleep)
		if err == nil {
			_, err = b.op(rt, "run", "-d", "--bundle", dir, "--pid-file", dir+"/pid", ids[i])
		}
		started[i] = err
	}
	defer func() {
		for i, rt := range b.rts {
			if ids[i] != "" {
				b.forceDelete(rt, ids[i])
				b.dropBundle(ids[i])
			}
		}
	}()
	b.each("exec", b.k.rounds, func(_, i int, rt *runtimeUT) error {
		if started[i] != nil {
			return started[i]
		}
		r, err := b.op(rt, "exec", ids[i], "/bin/true")
		if err != nil {
			return err
		}
		b.res.add("exec_ms", rt.label, ms(r.dur))
		return nil
	})
}

// rowSeq runs seqCount containers one after another and reports the total
// wall time and the CPU time of all children per container.
func (b *bench) rowSeq() {
	n := b.k.seqCount
	b.each("seq", b.k.seqRounds, func(_, i int, rt *runtimeUT) error {
		ids := make([]string, n)
		dirs := make([]string, n)
		defer func() {
			for _, id := range ids {
				if id != "" {
					b.dropBundle(id)
				}
			}
		}()
		for k := range ids {
			ids[k] = b.newID("q", i)
			var err error
			if dirs[k], err = b.makeBundle(ids[k], b.tmpl.trueCmd); err != nil {
				return err
			}
		}
		c0, err := childCPU()
		if err != nil {
			return err
		}
		t0 := time.Now()
		for k := range ids {
			if _, err := b.runOnce(rt, ids[k], dirs[k]); err != nil {
				b.forceDelete(rt, ids[k])
				return fmt.Errorf("container %d of %d: %w", k+1, n, err)
			}
		}
		wall := time.Since(t0)
		c1, err := childCPU()
		if err != nil {
			return err
		}
		b.res.add("seq100_s", rt.label, wall.Seconds())
		b.res.add("cpu_per_container_ms", rt.label, ms(c1-c0)/float64(n))
		return nil
	})
}

// rowPar runs parCount lifecycles at once and reports the wall time.
func (b *bench) rowPar() {
	n := b.k.parCount
	b.each("par", b.k.parRounds, func(_, i int, rt *runtimeUT) error {
		ids := make([]string, n)
		dirs := make([]string, n)
		defer func() {
			for _, id := range ids {
				if id != "" {
					b.dropBundle(id)
				}
			}
		}()
		for k := range ids {
			ids[k] = b.newID("p", i)
			var err error
			if dirs[k], err = b.makeBundle(ids[k], b.tmpl.trueCmd); err != nil {
				return err
			}
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		t0 := time.Now()
		for k := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[k] = b.lifecycle(rt, ids[k], dirs[k])
			}()
		}
		wg.Wait()
		wall := time.Since(t0)
		for k, err := range errs {
			if err != nil {
				return fmt.Errorf("container %d of %d: %w", k+1, n, err)
			}
		}
		b.res.add("par20_s", rt.label, wall.Seconds())
		return nil
	})
}

// gnuTime is GNU time, used to read the peak RSS of `create`. The peak RSS
// of a child started directly would include the benchmark's own: Go starts
// children with CLONE_VM|CLONE_VFORK and execve(2) folds the high-water RSS
// of the shared address space into the child's ru_maxrss. GNU time forks a
// copy of itself instead (about 1.3 MiB here: the floor of this row).
const gnuTime = "/usr/bin/time"

// rowRSS measures the peak RSS of `create` (GNU time's %M, else ru_maxrss)
// and the RSS of the created, not started init.
func (b *bench) rowRSS() {
	_, timeErr := os.Stat(gnuTime)
	if timeErr != nil {
		logf("rss: %s missing (apt-get install time); peak RSS includes the benchmark's own", gnuTime)
	}
	b.each("rss", b.k.rssRounds, func(_, i int, rt *runtimeUT) error {
		id := b.newID("r", i)
		dir, err := b.makeBundle(id, b.tmpl.trueCmd)
		if err != nil {
			return err
		}
		defer b.dropBundle(id)
		defer b.forceDelete(rt, id)
		var wrap []string
		rssFile := filepath.Join(dir, "maxrss")
		if timeErr == nil {
			wrap = []string{gnuTime, "-f", "%M", "-o", rssFile}
		}
		r, pid, err := b.createWrapped(rt, wrap, id, dir)
		if err != nil {
			return err
		}
		rss, err := vmRSS(pid)
		if err != nil {
			return fmt.Errorf("%s created init: %w", rt.label, err)
		}
		peak := float64(r.maxRSS)
		if wrap != nil {
			if peak, err = readMaxRSS(rssFile); err != nil {
				return fmt.Errorf("%s create: %w", rt.label, err)
			}
		}
		b.res.add("create_peak_rss_kib", rt.label, peak)
		b.res.add("created_init_rss_kib", rt.label, float64(rss))
		return nil
	})
}

// readMaxRSS reads the last line GNU time wrote for -f %M (KiB).
func readMaxRSS(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read peak rss: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("read peak rss %s: empty", path)
	}
	v, err := strconv.ParseFloat(f[len(f)-1], 64)
	if err != nil {
		return 0, fmt.Errorf("read peak rss %s: %w", path, err)
	}
	return v, nil
}

// rowMany creates manyCount containers per runtime (interleaved), then
// times state and list with all of them present, then delete -f of each.
func (b *bench) rowMany() {
	n := b.k.manyCount
	keys := metricKeys("many")
	ids := make([][]string, len(b.rts))
	pids := make([][]int, len(b.rts))
	broken := make([]bool, len(b.rts))
	for i, rt := range b.rts {
		if rt.dead != "" {
			b.res.fail(rt.label, keys, errors.New(rt.dead))
			broken[i] = true
		}
	}
	defer func() {
		// Containers the delete loop did not reach (a runtime failed, or an
		// interrupt), all runtimes at once.
		var wg sync.WaitGroup
		for i, rt := range b.rts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.forceDeleteAll(rt, ids[i], false)
				for _, id := range ids[i] {
					if id != "" {
						b.dropBundle(id)
					}
				}
			}()
		}
		wg.Wait()
	}()
	order := func(r int, fn func(i int, rt *runtimeUT)) {
		for k := range b.rts {
			i := (k + r) % len(b.rts)
			if !broken[i] && b.ctx.Err() == nil {
				fn(i, b.rts[i])
			}
		}
	}
	for c := 0; c < n; c++ {
		order(c, func(i int, rt *runtimeUT) {
			id := b.newID("m", i)
			dir, err := b.makeBundle(id, b.tmpl.trueCmd)
			if err == nil {
				ids[i] = append(ids[i], id)
				var r opResult
				var pid int
				if r, pid, err = b.create(rt, id, dir); err == nil {
					b.res.add("create_while_many_ms", rt.label, ms(r.dur))
					pids[i] = append(pids[i], pid)
					return
				}
			}
			broken[i] = true
			b.fail(rt.label, keys, fmt.Errorf("container %d of %d: %w", c+1, n, err))
			logf("many: %v", err)
		})
	}
	for i, rt := range b.rts {
		if broken[i] || b.ctx.Err() != nil {
			continue
		}
		var sum int64
		for _, pid := range pids[i] {
			if rss, err := vmRSS(pid); err == nil {
				sum += rss
			}
		}
		b.res.add("created100_rss_sum_mib", rt.label, float64(sum)/1024)
	}
	stateBad := make([]bool, len(b.rts))
	listBad := make([]bool, len(b.rts))
	for r := 0; r < b.k.rounds; r++ {
		order(r, func(i int, rt *runtimeUT) {
			if !stateBad[i] {
				if res, err := b.op(rt, "state", ids[i][(r*37)%len(ids[i])]); err != nil {
					stateBad[i] = true
					b.fail(rt.label, []string{"state_ms"}, err)
				} else {
					b.res.add("state_ms", rt.label, ms(res.dur))
				}
			}
			if !listBad[i] {
				if res, err := b.op(rt, "list"); err != nil {
					listBad[i] = true
					b.fail(rt.label, []string{"list_ms"}, err)
				} else {
					b.res.add("list_ms", rt.label, ms(res.dur))
				}
			}
		})
	}
	delBad := make([]bool, len(b.rts))
	for c := 0; c < n; c++ {
		order(c, func(i int, rt *runtimeUT) {
			if c >= len(ids[i]) || delBad[i] {
				return
			}
			res, err := b.op(rt, "delete", "-f", ids[i][c])
			if err != nil {
				delBad[i] = true
				b.fail(rt.label, []string{"delete_created_ms"}, err)
				return
			}
			b.res.add("delete_created_ms", rt.label, ms(res.dur))
			b.dropBundle(ids[i][c])
			ids[i][c] = ""
		})
	}
}
