package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// rowNames are the rows SKIP may name, in the order they run.
var rowNames = []string{"run", "seccomp", "split", "exec", "seq", "par", "rss", "many"}

// defaultRuntimes is RUNTIMES when unset; ./husk is left out when missing.
const defaultRuntimes = "husk=./husk runc=/usr/sbin/runc crun=/usr/bin/crun"

// runtimeSpec is one RUNTIMES entry.
type runtimeSpec struct {
	label string
	path  string // absolute
}

// knobs is the benchmark's configuration, read from the environment.
type knobs struct {
	quick     bool
	rounds    int // latency rows: run, seccomp, split, exec, state/list
	seqRounds int // rounds of the 100-sequential row
	parRounds int // rounds of the 20-parallel row
	rssRounds int // rounds of the RSS row
	seqCount  int // containers per sequential round
	parCount  int // containers per parallel round
	manyCount int // created containers for state/list
	runtimes  []runtimeSpec
	skip      map[string]bool
	bundle    string
	config    string // BENCH_CONFIG: template config.json, "" for runc spec's
}

var labelRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// parseKnobs reads QUICK, ROUNDS, RUNTIMES, SKIP, BENCH_BUNDLE and
// BENCH_CONFIG through
// getenv. lookPath resolves a runtime given without a slash. notes are things
// to tell the user (a default runtime left out).
func parseKnobs(getenv func(string) string, lookPath func(string) (string, error)) (k knobs, notes []string, err error) {
	k = knobs{seqCount: 100, parCount: 20, manyCount: 100, skip: map[string]bool{}}
	switch q := getenv("QUICK"); q {
	case "", "0":
	case "1":
		k.quick = true
	default:
		return k, nil, fmt.Errorf("parse QUICK %q: want 0 or 1", q)
	}
	k.rounds = 50
	if k.quick {
		k.rounds = 10
	}
	if s := getenv("ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return k, nil, fmt.Errorf("parse ROUNDS %q: want a positive integer", s)
		}
		k.rounds = n
	}
	k.seqRounds = max(1, k.rounds/10)
	k.parRounds = max(2, k.rounds/5)
	k.rssRounds = max(3, k.rounds/6)

	for _, w := range strings.Fields(strings.ReplaceAll(getenv("SKIP"), ",", " ")) {
		if !contains(rowNames, w) {
			return k, nil, fmt.Errorf("parse SKIP: unknown row %q (rows: %s)", w, strings.Join(rowNames, " "))
		}
		k.skip[w] = true
	}

	spec, explicit := getenv("RUNTIMES"), true
	if strings.TrimSpace(spec) == "" {
		spec, explicit = defaultRuntimes, false
	}
	seen := map[string]bool{}
	for _, f := range strings.Fields(spec) {
		label, path, ok := strings.Cut(f, "=")
		if !ok {
			path, label = f, filepath.Base(f)
		}
		if !labelRe.MatchString(label) {
			return k, nil, fmt.Errorf("parse RUNTIMES entry %q: bad label %q", f, label)
		}
		if seen[label] {
			return k, nil, fmt.Errorf("parse RUNTIMES: duplicate label %q (use label=path)", label)
		}
		abs, err := resolveRuntime(path, lookPath)
		if err != nil {
			if !explicit && errors.Is(err, fs.ErrNotExist) {
				notes = append(notes, fmt.Sprintf("%s left out: %v", label, err))
				continue
			}
			return k, nil, fmt.Errorf("parse RUNTIMES entry %q: %w", f, err)
		}
		seen[label] = true
		k.runtimes = append(k.runtimes, runtimeSpec{label: label, path: abs})
	}
	if len(k.runtimes) == 0 {
		return k, notes, errors.New("parse RUNTIMES: no runtime to benchmark")
	}

	if c := getenv("BENCH_CONFIG"); c != "" {
		if k.config, err = filepath.Abs(c); err != nil {
			return k, notes, fmt.Errorf("parse BENCH_CONFIG %q: %w", c, err)
		}
		notes = append(notes, "config template "+k.config+" instead of runc spec's")
	}
	k.bundle = getenv("BENCH_BUNDLE")
	if k.bundle == "" {
		k.bundle = filepath.Join("build", "bench")
	}
	return k, notes, nil
}

// resolveRuntime returns the absolute path of an executable runtime binary.
func resolveRuntime(path string, lookPath func(string) (string, error)) (string, error) {
	if !strings.Contains(path, "/") {
		p, err := lookPath(path)
		if err != nil {
			return "", fmt.Errorf("look up %s: %w", path, fs.ErrNotExist)
		}
		path = p
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("stat runtime: %w", err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("runtime %s: not an executable file", abs)
	}
	return abs, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lookPath is exec.LookPath, the production resolver for parseKnobs.
func lookPath(name string) (string, error) { return exec.LookPath(name) }
