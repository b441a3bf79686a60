package libcontainer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// briefState decodes state.json but for the container's config, of which it keeps the hooks:
// its "config" field, at depth 0, hides State.Config. Decoding the whole runtime-spec config
// builds encoding/json's field tables for every type of the spec, about 0.6 ms of CPU and
// most of a `husk state`.
type briefState struct {
	*State
	// Only exec reads the namespaces; the cgroup is decoded when a command needs it.
	Namespaces skipJSON        `json:"namespaces"`
	Cgroup     json.RawMessage `json:"cgroup"`
	Config     *struct {
		Hooks *specs.Hooks `json:"hooks"`
	} `json:"config"`
}

// loadBriefState reads the state without its Config (nil): enough for start, kill, delete,
// state and list, not for exec, update or checkpoint, and never saved again.
func loadBriefState(dir string) (*State, error) {
	data, path, err := readStateFile(dir)
	if err != nil {
		return nil, err
	}
	s, err := decodeBriefState(data)
	if err != nil {
		return nil, fmt.Errorf("state file %s is corrupt: %w", path, err)
	}
	return s, nil
}

func decodeBriefState(data []byte) (*State, error) {
	var s State
	b := briefState{State: &s}
	var err error
	// encoding/json scans all of its input twice (validation, then decoding): three
	// quarters of state.json are the config, the namespaces and the cgroup state, so
	// decode the rest alone when the file splits cleanly (as saveState writes it).
	if small, cgroup, ok := briefMembers(data); ok {
		err = json.Unmarshal(small, &b)
		b.Cgroup = cgroup
	} else {
		err = json.Unmarshal(data, &b)
	}
	if err != nil {
		return nil, err
	}
	s.brief = true
	s.cgroupRaw = b.Cgroup
	if b.Config != nil {
		s.hooks = b.Config.Hooks
	}
	return &s, nil
}

// briefMembers rewrites the state.json object data for briefState: the "config" member
// becomes {"hooks":...} (or goes when it has none), "namespaces" and "cgroup" go, and the
// cgroup's value is returned apart (a slice of data). Skipped values are only delimited,
// not validated; ok is false when data is not an object of plainly spelt members (an
// escaped key, another case of those names), which leaves the decoding to encoding/json.
func briefMembers(data []byte) (small, cgroup []byte, ok bool) {
	small = make([]byte, 0, 512)
	small = append(small, '{')
	ok = eachMember(data, func(key, val []byte) bool {
		switch string(key) {
		case "namespaces":
			return true
		case "cgroup":
			cgroup = val
			return true
		case "config":
			var hooks []byte
			if val[0] != '{' || !eachMember(val, func(k, v []byte) bool {
				if string(k) == "hooks" {
					hooks = v
				}
				return string(k) == "hooks" || !bytes.EqualFold(k, []byte("hooks"))
			}) {
				return false
			}
			if hooks == nil {
				return true
			}
			small = append(small, `"config":{"hooks":`...)
			small = append(append(small, hooks...), '}', ',')
			return true
		}
		// encoding/json matches keys without regard to case (Unicode folding): leave it
		// any other spelling of the members taken apart here.
		if bytes.EqualFold(key, []byte("namespaces")) || bytes.EqualFold(key, []byte("cgroup")) || bytes.EqualFold(key, []byte("config")) {
			return false
		}
		small = append(small, '"')
		small = append(small, key...)
		small = append(small, '"', ':')
		small = append(append(small, val...), ',')
		return true
	})
	if !ok {
		return nil, nil, false
	}
	if small[len(small)-1] == ',' {
		small = small[:len(small)-1]
	}
	return append(small, '}'), cgroup, true
}

// eachMember calls f with each member of the JSON object data (and nothing after it but
// white space), its key unquoted and its value raw; false when data is not such an object,
// has a key with an escape, or f returns false.
func eachMember(data []byte, f func(key, val []byte) bool) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return false
		}
		end := skipValue(data, i)
		if end < 0 {
			return false
		}
		key := data[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipSpace(data, i+1)
		end = skipValue(data, i)
		if end < 0 || !f(key, data[i:end]) {
			return false
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return skipSpace(data, i+1) == len(data)
		default:
			return false
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value that starts at data[i], or -1. It only
// delimits: strings by their unescaped closing quote, objects and arrays by nesting depth,
// other literals by the next delimiter.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		for j := i + 1; j < len(data); j++ {
			switch data[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return -1
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end := skipValue(data, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
literal:
	for ; j < len(data); j++ {
		switch data[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			break literal
		}
	}
	if j == i {
		return -1
	}
	return j
}

// cgroupState returns s.Cgroup, decoding it first in a brief state.
func (s *State) cgroupState() (cgroups.State, error) {
	if s.cgroupRaw != nil {
		if err := json.Unmarshal(s.cgroupRaw, &s.Cgroup); err != nil {
			return cgroups.State{}, fmt.Errorf("state of container %q: cgroup: %w", s.ID, err)
		}
		s.cgroupRaw = nil
	}
	return s.Cgroup, nil
}

// skipJSON leaves a JSON value undecoded.
type skipJSON struct{}

func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

func readState(dir string, v any) error {
	data, path, err := readStateFile(dir)
	if err != nil {
		return err
	}
	if err := quickjson.Unmarshal(data, v); err != nil {
		return fmt.Errorf("state file %s is corrupt: %w", path, err)
	}
	return nil
}

func readStateFile(dir string) (data []byte, path string, err error) {
	path = filepath.Join(dir, stateFile)
	data, err = readFile(path, 4096)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, path, ErrNotExist
		}
		return nil, path, fmt.Errorf("read state: %w", err)
	}
	return data, path, nil
}

// readFile is os.ReadFile in three system calls (open, read until EOF, close): an *os.File
// costs five more (non-blocking mode and a netpoller registration that fails for a regular
// file), which list pays twice per container.
func readFile(path string, size int) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, size)
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
	b, err := readFile("/proc/"+strconv.Itoa(pid)+"/stat", 512)
	if err != nil {
		return 0, err
	}
	return parseStartTime(b, pid)
}

// parseStartTime returns field 22 (starttime) of a /proc/<pid>/stat line, or ESRCH for a
// zombie or dead process.
func parseStartTime(b []byte, pid int) (uint64, error) {
	// The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	// f[0] is field 3 (state); starttime is field 22.
	if f[0] == "Z" || f[0] == "X" {
		return 0, unix.ESRCH
	}
	return strconv.ParseUint(f[19], 10, 64)
}
