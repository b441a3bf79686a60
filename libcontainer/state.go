package libcontainer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups"
	"github.com/husk-runtime/husk/spec/quickjson"
)

const (
	stateFile = "state.json"
	fifoName  = "exec.fifo"
)

// Status is a container's OCI status.
type Status string

// The statuses of runtime-spec runtime.md, plus runc's "paused".
const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Stopped  Status = "stopped"
	Paused   Status = "paused"
)

// State is what husk keeps in <root>/<id>/state.json.
type State struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"pid"`
	StartTime   uint64            `json:"start_time"` // of Pid, from /proc/<pid>/stat, against pid reuse
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Namespaces are the paths exec joins, by nsenter type name.
	Namespaces map[string]string `json:"namespaces"`
	Cgroup     cgroups.State     `json:"cgroup"`
	Config     *specs.Spec       `json:"config"`
	Rootless   bool              `json:"rootless,omitempty"`
	// SeccompCache is the directory of compiled filters (shared by all containers of a root).
	NoNewKeyring bool `json:"no_new_keyring,omitempty"`

	// brief marks a state read without its whole Config (loadBriefState: the config's hooks
	// only; loadExecState: exec's part of it): it must never be saved.
	brief     bool
	hooks     *specs.Hooks
	cgroupRaw json.RawMessage // Cgroup, still encoded
}

// Hooks returns the container's hooks, from the config or, in a brief state, the copy kept
// of them.
func (s *State) Hooks() *specs.Hooks {
	if s.Config != nil {
		return s.Config.Hooks
	}
	return s.hooks
}

// validID reports whether id matches runc's pattern ^[\w+-][\w+.-]*$ (ASCII letters, digits,
// "_", "+", "-", and "." after the first byte). A loop: a regexp compiled at package init
// would cost every husk command.
func validID(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '+', c == '-':
		case c == '.' && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidateID checks a container ID against runc's rule; it keeps IDs usable as one path
// element (no "/", "..", NUL or control characters).
func ValidateID(id string) error {
	// The pattern admits neither "/" nor a leading ".", so an ID is always one path element
	// and never "." or "..".
	if len(id) > 1024 || !validID(id) {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}

// saveState writes state.json atomically: a temp file in the same directory, fsync'd not
// (the state dir is on tmpfs by default), then rename(2).
func saveState(dir string, s *State) error {
	if s.brief {
		return errors.New("write state: the state was read without its config")
	}
	b, err := encodeState(s)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".state-")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, stateFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// stateJSON is how state.json is written: the state with its config encoded apart, so that
// encoding/json never prepares the spec's hundred types (quickjson encodes it; see
// encodeState).
type stateJSON struct {
	State
	Config json.RawMessage `json:"config"`
}

// encodeState encodes s as json.Marshal would, in a fraction of its first-use cost.
func encodeState(s *State) ([]byte, error) {
	cfg, err := quickjson.Marshal(s.Config)
	if err != nil {
		return nil, err
	}
	return quickjson.Marshal(&stateJSON{State: *s, Config: cfg})
}

func loadState(dir string) (*State, error) {
	var s State
	if err := readState(dir, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// execConfig is the part of the config `husk exec` reads: the process it starts from, the
// namespaces it joins, the seccomp filter, what checkExtras and planExtras apply, and what
// planBlocker looks at. A new use of the config on exec's path needs its field here.
type execConfig struct {
	Process *specs.Process `json:"process"`
	Hooks   *specs.Hooks   `json:"hooks"`
	Linux   *struct {
		Namespaces   []specs.LinuxNamespace   `json:"namespaces"`
		UIDMappings  []specs.LinuxIDMapping   `json:"uidMappings"`
		GIDMappings  []specs.LinuxIDMapping   `json:"gidMappings"`
		Seccomp      *specs.LinuxSeccomp      `json:"seccomp"`
		Personality  *specs.LinuxPersonality  `json:"personality"`
		MemoryPolicy *specs.LinuxMemoryPolicy `json:"memoryPolicy"`
		IntelRdt     *specs.LinuxIntelRdt     `json:"intelRdt"`
	} `json:"linux"`
}

// loadExecState reads the state with the execConfig part of its config only (its "config"
// field, at depth 0, hides State.Config): the rest of the spec's types cost encoding/json
// their field tables, about half a millisecond of every exec. The state cannot be saved.
func loadExecState(dir string) (*State, error) {
	var st struct {
		State
		Config *execConfig `json:"config"`
	}
	if err := readState(dir, &st); err != nil {
		return nil, err
	}
	s := st.State
	s.brief = true
	if c := st.Config; c != nil {
		s.Config = &specs.Spec{Process: c.Process, Hooks: c.Hooks}
		if l := c.Linux; l != nil {
			s.Config.Linux = &specs.Linux{
				Namespaces: l.Namespaces, UIDMappings: l.UIDMappings, GIDMappings: l.GIDMappings,
				Seccomp: l.Seccomp, Personality: l.Personality, MemoryPolicy: l.MemoryPolicy, IntelRdt: l.IntelRdt,
			}
		}
	}
	return &s, nil
}

// loadBriefState reads the state without its Config (nil): enough for start, kill, delete,
// state and list, not for exec, update or checkpoint, and never saved again.
func loadBriefState(dir string) (*State, error) {
	// The brief state keeps no part of what it is decoded from (strings and raw messages
	// are copies): list, which reads one per container, reuses the buffers.
	buf := briefBufs.Get().(*[]byte)
	defer briefBufs.Put(buf)
	data, path, err := readStateFile(dir, (*buf)[:0])
	if err != nil {
		return nil, err
	}
	*buf = data
	s, err := decodeBriefState(data)
	if err != nil {
		return nil, fmt.Errorf("state file %s is corrupt: %w", path, err)
	}
	return s, nil
}

// decodeBriefState decodes state.json but for the container's config, of which it keeps the
// hooks, the namespaces (exec's alone) and the cgroup state (decoded when a command needs it):
// the fields at depth 0 hide State's own.
func decodeBriefState(data []byte) (*State, error) {
	var b struct {
		State
		Namespaces json.RawMessage `json:"namespaces"`
		Cgroup     json.RawMessage `json:"cgroup"`
		Config     *struct {
			Hooks *specs.Hooks `json:"hooks"`
		} `json:"config"`
	}
	if err := quickjson.Unmarshal(data, &b); err != nil {
		return nil, err
	}
	s := b.State
	s.brief = true
	s.cgroupRaw = b.Cgroup
	if b.Config != nil {
		s.hooks = b.Config.Hooks
	}
	return &s, nil
}

// cgroupState returns s.Cgroup, decoding it first in a brief state.
func (s *State) cgroupState() (cgroups.State, error) {
	if s.cgroupRaw != nil {
		if err := quickjson.Unmarshal(s.cgroupRaw, &s.Cgroup); err != nil {
			return cgroups.State{}, fmt.Errorf("state of container %q: cgroup: %w", s.ID, err)
		}
		s.cgroupRaw = nil
	}
	return s.Cgroup, nil
}

func readState(dir string, v any) error {
	data, path, err := readStateFile(dir, make([]byte, 0, 4096))
	if err != nil {
		return err
	}
	if err := quickjson.Unmarshal(data, v); err != nil {
		return fmt.Errorf("state file %s is corrupt: %w", path, err)
	}
	return nil
}

// readStateFile reads dir's state.json, appending to buf.
func readStateFile(dir string, buf []byte) (data []byte, path string, err error) {
	path = filepath.Join(dir, stateFile)
	data, err = readFileInto(path, buf)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, path, ErrNotExist
		}
		return nil, path, fmt.Errorf("read state: %w", err)
	}
	return data, path, nil
}

// briefBufs holds the read buffers of loadBriefState.
var briefBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

// readFileInto is os.ReadFile appending to b, in three system calls (open, read until EOF,
// close): an *os.File costs five more (non-blocking mode and a netpoller registration that
// fails for a regular file), which list pays twice per container.
func readFileInto(path string, b []byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// processStartTime reads field 22 (starttime) of /proc/<pid>/stat.
func processStartTime(pid int) (uint64, error) {
	start, _, err := processStat(pid)
	return start, err
}

// processStat reads the start time (field 22) and the state letter (field 3) of
// /proc/<pid>/stat.
func processStat(pid int) (start uint64, state byte, err error) {
	var buf [512]byte // a stat line is about 300 bytes: no allocation (list reads one per container)
	b, err := readFileInto("/proc/"+strconv.Itoa(pid)+"/stat", buf[:0])
	if err != nil {
		return 0, 0, err
	}
	return parseStat(b, pid)
}

// parseStartTime returns field 22 (starttime) of a /proc/<pid>/stat line, or ESRCH for a
// zombie or dead process.
func parseStartTime(b []byte, pid int) (uint64, error) {
	start, _, err := parseStat(b, pid)
	return start, err
}

// parseStat is parseStartTime that also returns the state letter (field 3).
func parseStat(b []byte, pid int) (start uint64, state byte, err error) {
	// The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	// Field n+3 is the n-th after the ')': the state is field 3, starttime field 22.
	rest := b[i+1:]
	for n := 0; ; n++ {
		rest = bytes.TrimLeft(rest, " \t\n")
		if len(rest) == 0 {
			return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
		}
		end := bytes.IndexAny(rest, " \t\n")
		if end < 0 {
			end = len(rest)
		}
		f := rest[:end]
		switch n {
		case 0:
			if string(f) == "Z" || string(f) == "X" {
				return 0, 0, unix.ESRCH
			}
			state = f[0]
		case 19:
			start, err = strconv.ParseUint(string(f), 10, 64)
			return start, state, err
		}
		rest = rest[end:]
	}
}
