package libcontainer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups"
	"github.com/husk-runtime/husk/spec/quickjson"
)

// FuzzValidID checks the hand-written matcher against runc's pattern.
func FuzzValidID(f *testing.F) {
	re := regexp.MustCompile(`^[\w+-][\w+.-]*$`)
	for _, s := range []string{"a", ".a", "a.b", "-", "+x", "a/b", "..", "a\nb", "ä", "A_1+-."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validID(s), re.MatchString(s); got != want {
			t.Errorf("validID(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}

func TestValidateID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"word", "mycontainer", true},
		{"digits", "123", true},
		{"64 hex digits", strings.Repeat("0123456789abcdef", 4), true},
		{"dash and underscore", "my-container_1", true},
		{"leading dash", "-x", true},
		{"leading underscore", "_x", true},
		{"plus", "a+b", true},
		{"dot inside", "ctr.v2", true},
		{"uppercase", "MyContainer", true},
		{"255 bytes", strings.Repeat("a", 255), true},
		{"1024 bytes", strings.Repeat("a", 1024), true},

		{"empty", "", false},
		{"slash", "/", false},
		{"a/b", "a/b", false},
		{"dot", ".", false},
		{"dotdot", "..", false},
		{"dotdot path", "../x", false},
		{"NUL", "a\x00b", false},
		{"newline", "a\nb", false},
		{"trailing newline", "abc\n", false},
		{"tab", "a\tb", false},
		{"escape", "a\x1bb", false},
		{"DEL", "a\x7fb", false},
		{"space", "a b", false},
		{"colon", "a:b", false},
		{"non-ASCII", "contäiner", false},
		{"over-long", strings.Repeat("a", 1025), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateID(tt.id)
			switch {
			case tt.ok && err != nil:
				t.Errorf("ValidateID(%q): got %v, want nil", tt.id, err)
			case !tt.ok && err == nil:
				t.Errorf("ValidateID(%q): got nil, want ErrInvalidID", tt.id)
			case !tt.ok && !errors.Is(err, ErrInvalidID):
				t.Errorf("ValidateID(%q): got %v, want ErrInvalidID", tt.id, err)
			}
		})
	}
}

// statLine builds a /proc/<pid>/stat line for comm with state and starttime (field 22).
func statLine(comm, state string, start uint64) string {
	fields := []string{"42", "(" + comm + ")", state}
	for i := 4; i <= 52; i++ {
		v := strconv.Itoa(i)
		if i == 22 {
			v = strconv.FormatUint(start, 10)
		}
		fields = append(fields, v)
	}
	return strings.Join(fields, " ") + "\n"
}

func TestParseStartTime(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    uint64
		wantErr error // nil: any error when wantOK is false
		wantOK  bool
	}{
		{"plain", statLine("sh", "S", 248183), 248183, nil, true},
		{"comm with spaces", statLine("my prog", "R", 7), 7, nil, true},
		{"comm with parentheses", statLine("a) S 1 2 (b", "S", 99), 99, nil, true},
		{"comm ending in )", statLine("x)", "S", 5), 5, nil, true},
		{"comm that looks like fields", statLine(") 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21", "S", 77), 77, nil, true},
		{"largest starttime", statLine("sh", "S", 1<<64-1), 1<<64 - 1, nil, true},
		{"idle", statLine("kworker/0:1", "I", 3), 3, nil, true},
		{"zombie", statLine("sh", "Z", 1), 0, unix.ESRCH, false},
		{"dead", statLine("sh", "X", 1), 0, unix.ESRCH, false},
		{"no parenthesis", "42 sh S 1 2 3", 0, nil, false},
		{"short", "42 (sh) S 1 2 3\n", 0, nil, false},
		{"empty", "", 0, nil, false},
		{"not a number", strings.Replace(statLine("sh", "S", 1234), " 1234 ", " 12x4 ", 1), 0, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStartTime([]byte(tt.line), 42)
			switch {
			case tt.wantOK && err != nil:
				t.Fatalf("got error %v, want %d", err, tt.want)
			case tt.wantOK && got != tt.want:
				t.Errorf("got %d, want %d", got, tt.want)
			case !tt.wantOK && err == nil:
				t.Errorf("got %d, want an error", got)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestProcessStartTime(t *testing.T) {
	self, err := processStartTime(os.Getpid())
	if err != nil || self == 0 {
		t.Fatalf("processStartTime(self): got %d, %v, want a start time", self, err)
	}
	// pid 1 started before this test.
	if init, err := processStartTime(1); err != nil || init > self {
		t.Errorf("processStartTime(1): got %d, %v, want at most ours (%d)", init, err, self)
	}
	if _, err := processStartTime(1 << 30); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("processStartTime of no process: got %v, want ENOENT", err)
	}
}

func testState() *State {
	return &State{
		ID: "c1", Bundle: "/b", Rootfs: "/b/rootfs", Pid: 42, StartTime: 1234,
		Created: time.Date(2026, 11, 27, 4, 0, 0, 123456789, time.UTC), Owner: "root",
		Annotations: map[string]string{"a": "b"},
		Namespaces:  map[string]string{"net": "/proc/42/ns/net"},
		Cgroup: cgroups.State{Driver: "fs", Paths: map[string]string{"pids": "/sys/fs/cgroup/pids/x"},
			Created: []string{"/sys/fs/cgroup/pids/x"}},
		Config: &specs.Spec{
			Version: specs.Version,
			Process: &specs.Process{Args: []string{"/bin/true"}},
			Hooks: &specs.Hooks{
				Poststart: []specs.Hook{{Path: "/bin/echo", Args: []string{"echo", "started"}}},
				Poststop:  []specs.Hook{{Path: "/bin/echo", Args: []string{"echo", "stopped"}}},
			},
			Linux: &specs.Linux{CgroupsPath: "x"},
		},
		Rootless: true, NoNewKeyring: true,
	}
}

// TestBriefState: a brief state has every field of the full one but Config (nil: its hooks
// are kept apart) and Namespaces, and it cannot be saved.
func TestBriefState(t *testing.T) {
	dir := t.TempDir()
	want := testState()
	if err := saveState(dir, want); err != nil {
		t.Fatal(err)
	}
	full, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(full, want) {
		t.Errorf("loadState: got %+v, want %+v", full, want)
	}
	// The file is plain JSON of a State, whoever decodes it (saveState encodes the config
	// apart, with quickjson).
	raw, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	var plain State
	if err := json.Unmarshal(raw, &plain); err != nil || !reflect.DeepEqual(&plain, want) {
		t.Errorf("state.json through encoding/json: got %+v, %v, want %+v", &plain, err, want)
	}
	brief, err := loadBriefState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if brief.Config != nil || brief.Namespaces != nil {
		t.Errorf("brief state has Config %v, Namespaces %v: want neither", brief.Config, brief.Namespaces)
	}
	if got := brief.Hooks(); !reflect.DeepEqual(got, want.Config.Hooks) {
		t.Errorf("brief Hooks(): got %+v, want %+v", got, want.Config.Hooks)
	}
	cg, err := brief.cgroupState()
	if err != nil || !reflect.DeepEqual(cg, want.Cgroup) {
		t.Errorf("brief cgroupState(): got %+v, %v, want %+v", cg, err, want.Cgroup)
	}
	// The rest is the full state's.
	b := *brief
	b.Config, b.Namespaces, b.brief, b.hooks, b.cgroupRaw = want.Config, want.Namespaces, false, nil, nil
	if !reflect.DeepEqual(&b, want) {
		t.Errorf("brief state: got %+v, want %+v", &b, want)
	}
	if err := saveState(dir, brief); err == nil {
		t.Error("saveState of a brief state: got nil, want an error")
	}
	if again, err := loadState(dir); err != nil || !reflect.DeepEqual(again, want) {
		t.Errorf("state after the refused save: got %+v, %v", again, err)
	}

	// No hooks, and a state without a config at all.
	noHooks := testState()
	noHooks.Config.Hooks = nil
	if err := saveState(dir, noHooks); err != nil {
		t.Fatal(err)
	}
	if brief, err := loadBriefState(dir); err != nil || brief.Hooks() != nil {
		t.Errorf("brief state without hooks: got %v, %v", brief.Hooks(), err)
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"id":"c1","pid":7}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if brief, err := loadBriefState(dir); err != nil || brief.Pid != 7 || brief.Hooks() != nil {
		t.Errorf("brief state of a minimal file: got %+v, %v", brief, err)
	}
	if _, err := loadBriefState(t.TempDir()); !errors.Is(err, ErrNotExist) {
		t.Errorf("brief state of an empty directory: got %v, want ErrNotExist", err)
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"id":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadBriefState(dir); err == nil {
		t.Error("brief state of a corrupt file: got nil error")
	}
}

func TestReadFileInto(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 511, 512, 513, 4096, 100000} {
		want := []byte(strings.Repeat("x", n))
		p := filepath.Join(dir, strconv.Itoa(n))
		if err := os.WriteFile(p, want, 0o600); err != nil {
			t.Fatal(err)
		}
		// Appended to what the buffer holds, whatever its capacity.
		got, err := readFileInto(p, append(make([]byte, 0, 512), "head:"...))
		if err != nil || string(got) != "head:"+string(want) {
			t.Errorf("readFileInto of %d bytes: got %d bytes, %v", n, len(got), err)
		}
	}
	if _, err := readFileInto(filepath.Join(dir, "missing"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("readFileInto of a missing file: got %v, want ErrNotExist", err)
	}
}

func TestRemoveStateDir(t *testing.T) {
	for _, files := range [][]string{nil, {stateFile}, {stateFile, fifoName}, {stateFile, ".state-123", "descriptors.json"}} {
		dir := filepath.Join(t.TempDir(), "c1")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := removeStateDir(dir); err != nil {
			t.Errorf("removeStateDir with %v: %v", files, err)
		}
		if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("removeStateDir with %v: the directory is still there (%v)", files, err)
		}
		if err := removeStateDir(dir); err != nil {
			t.Errorf("removeStateDir of a removed directory: %v", err)
		}
	}
}

// briefState is the reference form of decodeBriefState's, for encoding/json.
type briefState struct {
	*State
	Namespaces skipJSON        `json:"namespaces"`
	Cgroup     json.RawMessage `json:"cgroup"`
	Config     *struct {
		Hooks *specs.Hooks `json:"hooks"`
	} `json:"config"`
}

// skipJSON leaves a JSON value undecoded.
type skipJSON struct{}

func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

// slowBriefState is decodeBriefState with encoding/json alone.
func slowBriefState(data []byte) (*State, error) {
	var s State
	b := briefState{State: &s}
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, err
	}
	s.brief, s.cgroupRaw = true, b.Cgroup
	if b.Config != nil {
		s.hooks = b.Config.Hooks
	}
	return &s, nil
}

func sameBrief(t *testing.T, data []byte) {
	t.Helper()
	fast, ferr := decodeBriefState(data)
	slow, serr := slowBriefState(data)
	if (ferr == nil) != (serr == nil) {
		t.Fatalf("%s: fast error %v, encoding/json error %v", data, ferr, serr)
	}
	if ferr != nil {
		return
	}
	fcg, ferr := fast.cgroupState()
	scg, serr := slow.cgroupState()
	if (ferr == nil) != (serr == nil) || !reflect.DeepEqual(fcg, scg) {
		t.Fatalf("%s: cgroup %+v, %v; encoding/json: %+v, %v", data, fcg, ferr, scg, serr)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%s:\n got %+v\nwant %+v", data, fast, slow)
	}
}

var briefSeeds = []string{
	`{}`,
	` { } `,
	`{"id":"a"}`,
	`{"id":"a","pid":7,"start_time":1e3,"rootless":true,"annotations":null}`,
	`{"config":null,"id":"a"}`,
	`{"config":{},"id":"a"}`,
	`{"config":{"hooks":null}}`,
	`{"config":{"process":{"args":["sh","-c","echo \"config\":{} ]}"]},"hooks":{"poststop":[{"path":"/x","args":["}",",\"hooks\":"]}]}}}`,
	`{"annotations":{"config":"{","hooks":"]"},"id":"a\"b\\","namespaces":{"net":"/n"},"cgroup":{"driver":"fs","paths":{"a":"/b"}}}`,
	`{"id":"\u00e9\\\"","cgroup":{"created":["/x","/y"]},"created":"2026-01-02T03:04:05.5Z"}`,
	"{\n  \"id\": \"a\",\n  \"config\": {\n    \"hooks\": {\"poststart\": [{\"path\": \"/p\"}]}\n  },\n  \"pid\": 3\n}\n",
	`{"i\u0064":"escaped key"}`,
	`{"Config":{"hooks":{"poststop":[{"path":"/q"}]}}}`,
	`{"id":"a","id":"b","cgroup":{"driver":"x"},"cgroup":{"driver":"fs"}}`,
	`{"annotations":{},"aaaaaaaa":{},"Cgroup":{"pAths":{}}}`,
	`{"cgroup":{"paths":{}},"CGROUP":{"driver":"fs"},"namespaceſ":{},"config":{"Hooks":{}}}`,
	`{"config":{"hooks":{"poststop":[{"path":"/a"}]}},"config":{"hooks":{"poststart":[]}},"config":{}}`,
	`{"pid":-1.5e-3}`,
	`{"pid":"7"}`,
	`{"cgroup":[]}`,
	`{"config":[]}`,
	`{"id":"a"`,
	`{"id":"a"}}`,
	`{"id":"a",}`,
	`{"id" "a"}`,
	`{"id":}`,
	`{"id":"a"} x`,
	`{"config":{"hooks":{"poststart":[{"path":"/p"}]}`,
	`{"cgroup":{"paths":{"a":"b"}},"namespaces":{"x":`,
	`["id"]`,
	``,
	`nul`,
}

func TestDecodeBriefState(t *testing.T) {
	for _, s := range briefSeeds {
		sameBrief(t, []byte(s))
	}
	// What saveState writes, compact and indented.
	st := testState()
	for _, marshal := range []func(any) ([]byte, error){json.Marshal, func(v any) ([]byte, error) { return json.MarshalIndent(v, "", "\t") }} {
		b, err := marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		sameBrief(t, b)
		if err := quickjson.Decode(b, new(struct {
			State
			Namespaces json.RawMessage `json:"namespaces"`
			Cgroup     json.RawMessage `json:"cgroup"`
		})); err != nil {
			t.Errorf("quickjson does not take the state file saveState writes: %v\n%s", err, b)
		}
	}
}

func FuzzDecodeBriefState(f *testing.F) {
	for _, s := range briefSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameBrief(t, data) })
}

// TestExecState: exec's state holds every part of the config it uses, as the full state has
// them, and cannot be saved.
func TestExecState(t *testing.T) {
	want := testState()
	want.Config.Process.Env = []string{"PATH=/bin"}
	want.Config.Linux = &specs.Linux{
		CgroupsPath:  "x",
		Namespaces:   []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"}},
		UIDMappings:  []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}},
		GIDMappings:  []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}},
		Seccomp:      &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: "/run/agent.sock"},
		Personality:  &specs.LinuxPersonality{Domain: specs.PerLinux32},
		MemoryPolicy: &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0"},
		IntelRdt:     &specs.LinuxIntelRdt{ClosID: "c"},
		MaskedPaths:  []string{"/proc/kcore"}, // not exec's: left out
	}
	dir := t.TempDir()
	if err := saveState(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := loadExecState(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, wl := got.Config.Linux, want.Config.Linux
	if !reflect.DeepEqual(got.Config.Process, want.Config.Process) || !reflect.DeepEqual(got.Config.Hooks, want.Config.Hooks) ||
		!reflect.DeepEqual(l.Namespaces, wl.Namespaces) || !reflect.DeepEqual(l.UIDMappings, wl.UIDMappings) ||
		!reflect.DeepEqual(l.GIDMappings, wl.GIDMappings) || !reflect.DeepEqual(l.Seccomp, wl.Seccomp) ||
		!reflect.DeepEqual(l.Personality, wl.Personality) || !reflect.DeepEqual(l.MemoryPolicy, wl.MemoryPolicy) ||
		!reflect.DeepEqual(l.IntelRdt, wl.IntelRdt) {
		t.Errorf("exec state config: got %+v / %+v, want %+v / %+v", got.Config, l, want.Config, wl)
	}
	if l.MaskedPaths != nil || l.CgroupsPath != "" {
		t.Errorf("exec state decoded more than exec uses: %+v", l)
	}
	if got.Pid != want.Pid || !reflect.DeepEqual(got.Namespaces, want.Namespaces) || !reflect.DeepEqual(got.Cgroup, want.Cgroup) {
		t.Errorf("exec state: got %+v, want %+v", got, want)
	}
	if err := saveState(dir, got); err == nil {
		t.Error("saveState of an exec state: got nil, want an error")
	}
}

// TestParseStatState: parseStat returns the state letter along with the start time.
func TestParseStatState(t *testing.T) {
	for _, state := range []string{"S", "D", "R", "I", "T"} {
		start, got, err := parseStat([]byte(statLine("a) D (b", state, 77)), 42)
		if err != nil || start != 77 || got != state[0] {
			t.Errorf("state %s: got %d %q %v", state, start, got, err)
		}
	}
}
