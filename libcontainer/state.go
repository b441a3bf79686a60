package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups"
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
}

var idRegexp = regexp.MustCompile(`^[\w+-][\w+.-]*$`)

// ValidateID checks a container ID against runc's rule; it keeps IDs usable as one path
// element (no "/", "..", NUL or control characters).
func ValidateID(id string) error {
	// The pattern admits neither "/" nor a leading ".", so an ID is always one path element
	// and never "." or "..".
	if len(id) > 1024 || !idRegexp.MatchString(id) {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}

// saveState writes state.json atomically: a temp file in the same directory, fsync'd not
// (the state dir is on tmpfs by default), then rename(2).
func saveState(dir string, s *State) error {
	b, err := json.Marshal(s)
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

func loadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNotExist
		}
		return nil, fmt.Errorf("read state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt: %w", filepath.Join(dir, stateFile), err)
	}
	return &s, nil
}

// processStartTime reads field 22 (starttime) of /proc/<pid>/stat.
func processStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
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
