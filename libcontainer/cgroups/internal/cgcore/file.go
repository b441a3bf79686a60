package cgcore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// bareErr strips an *os.PathError so that the message names the path once,
// in our own words; errors.Is still sees the errno.
func bareErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// WriteFile writes data to dir/name, which must exist (cgroup files are
// never created). The error reads `write "max" to /sys/.../pids.max: ...`.
//
// Cgroup files are read and written with bare system calls, not an *os.File:
// cgroupfs files can be polled, so os would register each with the runtime's
// poller (two fcntl and two epoll_ctl calls more per file, dozens of files per
// container).
func WriteFile(dir, name, data string) error {
	p := filepath.Join(dir, name)
	fd, err := openRaw(p, unix.O_WRONLY|unix.O_TRUNC)
	if err == nil {
		var n int
		n, err = ignoringEINTR(func() (int, error) { return unix.Write(fd, []byte(data)) })
		if err == nil && n < len(data) {
			err = io.ErrShortWrite
		}
		unix.Close(fd)
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", data, p, err)
	}
	return nil
}

// ReadFile returns dir/name with surrounding white space trimmed.
func ReadFile(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	b, err := readRaw(p)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return string(bytes.TrimSpace(b)), nil
}

func openRaw(p string, flags int) (int, error) {
	return ignoringEINTR(func() (int, error) { return unix.Open(p, flags|unix.O_CLOEXEC, 0) })
}

// readRaw reads the whole of file p.
func readRaw(p string) ([]byte, error) {
	fd, err := openRaw(p, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 512)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := ignoringEINTR(func() (int, error) { return unix.Read(fd, b[len(b):cap(b)]) })
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

func ignoringEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != unix.EINTR {
			return n, err
		}
	}
}

// Exists reports whether dir/name exists.
func Exists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

// ReadUint reads a single unsigned number; "max" (v2) and the v1
// "unlimited" value (a huge number) read as MaxUint64.
func ReadUint(dir, name string) (uint64, error) {
	s, err := ReadFile(dir, name)
	if err != nil {
		return 0, err
	}
	return parseUint(s, filepath.Join(dir, name))
}

func parseUint(s, where string) (uint64, error) {
	if s == "max" {
		return ^uint64(0), nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		// Negative values (memory.low can't, but some counters are
		// int64 in the kernel) read as zero rather than failing stats.
		if iv, ierr := strconv.ParseInt(s, 10, 64); ierr == nil && iv < 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("parse %q in %s: %w", s, where, err)
	}
	return v, nil
}

// ReadKV reads a "key value" per line file (memory.stat, cpu.stat, ...).
func ReadKV(dir, name string) (map[string]uint64, error) {
	s, err := ReadFile(dir, name)
	if err != nil {
		return nil, err
	}
	m := make(map[string]uint64)
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, err := parseUint(strings.TrimSpace(v), filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		m[k] = n
	}
	return m, nil
}

// ReadPSI parses a PSI file such as cpu.pressure. A missing file, or one
// the kernel refuses to read (PSI disabled: EOPNOTSUPP), yields nil, nil.
func ReadPSI(dir, name string) (*PSIStats, error) {
	s, err := ReadFile(dir, name)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
			return nil, nil
		}
		return nil, err
	}
	var st PSIStats
	for _, line := range strings.Split(s, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		var d *PSIData
		switch fields[0] {
		case "some":
			d = &st.Some
		case "full":
			d = &st.Full
		default:
			continue
		}
		for _, kv := range fields[1:] {
			k, v, _ := strings.Cut(kv, "=")
			var perr error
			switch k {
			case "avg10":
				d.Avg10, perr = strconv.ParseFloat(v, 64)
			case "avg60":
				d.Avg60, perr = strconv.ParseFloat(v, 64)
			case "avg300":
				d.Avg300, perr = strconv.ParseFloat(v, 64)
			case "total":
				d.Total, perr = strconv.ParseUint(v, 10, 64)
			}
			if perr != nil {
				return nil, fmt.Errorf("parse %q in %s: %w", kv, filepath.Join(dir, name), perr)
			}
		}
	}
	return &st, nil
}

// ParseList parses a cpuset list such as "0-3,7" into its members.
func ParseList(s string) ([]uint16, error) {
	var out []uint16
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("invalid list %q: element %q is not a number", s, part)
		}
		b := a
		if isRange {
			b, err = strconv.ParseUint(hi, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("invalid list %q: element %q is not a range", s, part)
			}
			if b < a {
				return nil, fmt.Errorf("invalid list %q: range %q is reversed", s, part)
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, uint16(i))
		}
	}
	return out, nil
}
