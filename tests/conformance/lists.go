package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// knownFailures maps "program" or "program@runtime" to the reason the
// program cannot pass.
type knownFailures map[string]string

// lookup returns the reason program is expected to fail under runtime: an
// entry scoped to the runtime wins over an unscoped one.
func (k knownFailures) lookup(program, runtime string) (string, bool) {
	if r, ok := k[program+"@"+runtime]; ok {
		return r, true
	}
	r, ok := k[program]
	return r, ok
}

// parseKnownFailures reads lines "program[@runtime] reason"; blank lines and
// lines starting with # are ignored, and every entry needs a reason.
func parseKnownFailures(r io.Reader) (knownFailures, error) {
	k := knownFailures{}
	err := eachLine(r, func(n int, fields []string, line string) error {
		key := fields[0]
		reason := strings.TrimSpace(strings.TrimPrefix(line, key))
		if reason == "" {
			return fmt.Errorf("line %d: %s has no reason", n, key)
		}
		if _, dup := k[key]; dup {
			return fmt.Errorf("line %d: %s listed twice", n, key)
		}
		k[key] = reason
		return nil
	})
	return k, err
}

// baseline maps a runtime name to the least number of programs that must pass.
type baseline map[string]int

// parseBaseline reads lines "runtime minimum-passed"; blank lines and lines
// starting with # are ignored.
func parseBaseline(r io.Reader) (baseline, error) {
	b := baseline{}
	err := eachLine(r, func(n int, fields []string, _ string) error {
		if len(fields) != 2 {
			return fmt.Errorf("line %d: want \"runtime minimum-passed\", got %d fields", n, len(fields))
		}
		v, err := strconv.Atoi(fields[1])
		if err != nil || v < 0 {
			return fmt.Errorf("line %d: bad count %q", n, fields[1])
		}
		b[fields[0]] = v
		return nil
	})
	return b, err
}

func eachLine(r io.Reader, f func(n int, fields []string, line string) error) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := f(n, strings.Fields(line), line); err != nil {
			return err
		}
	}
	return sc.Err()
}

// readList opens path and parses it with parse; a missing file is an error.
func readList[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, fmt.Errorf("open list: %w", err)
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		return zero, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}
