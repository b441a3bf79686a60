package spec_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/validate"
	"github.com/husk-runtime/husk/spec"
)

// bundleWith returns a bundle directory holding config (when not nil) and an empty rootfs.
func bundleWith(t *testing.T, config *string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if config != nil {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(*config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadErrors(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name   string
		config *string
		want   []string // substrings of the error
	}{
		{"missing config.json", nil, []string{"config.json", "not found"}},
		{"syntax error", str("{\n\t\"ociVersion\": \"1.0.0\",\n\t\"root\": {\"path\": \"rootfs\",,}\n}\n"),
			[]string{"config.json", "line 3, column 28"}},
		{"syntax error on line 1", str(`{"ociVersion" "1.0.0"}`), []string{"line 1, column 15"}},
		{"truncated", str("{\n\t\"ociVersion\": \"1.0.0\",\n"), []string{"config.json", "line 3"}},
		{"type error", str("{\n\t\"ociVersion\": \"1.0.0\",\n\t\"process\": {\"args\": \"sh\"}\n}\n"),
			[]string{"process.args", "string", "line 3"}},
		{"type error in an array", str(`{"mounts": [{"destination": "/proc"}, {"destination": 5}]}`),
			[]string{"mounts.destination", "number", "line 1"}},
		{"type error at top level", str(`[]`), []string{"array"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := spec.Load(bundleWith(t, tt.config))
			if err == nil {
				t.Fatalf("got: %+v, want: an error", s)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got: %v, want: an error containing %q", err, w)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	config := `{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/"}}`
	s, err := spec.Load(bundleWith(t, &config))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if s.Version != "1.0.2" || s.Root.Path != "rootfs" || !slices.Equal(s.Process.Args, []string{"sh"}) {
		t.Errorf("got: %+v, want ociVersion 1.0.2, root rootfs, args [sh]", s)
	}
}

func TestExampleIsValid(t *testing.T) {
	if err := validate.Spec(spec.Example(), bundleWith(t, nil)); err != nil {
		t.Errorf("validate.Spec(Example()): %v", err)
	}
}

func TestExampleIsFresh(t *testing.T) {
	a := spec.Example()
	a.Process.Capabilities.Bounding[0] = "CAP_CHANGED"
	if a.Process.Capabilities.Effective[0] == "CAP_CHANGED" || a.Process.Capabilities.Permitted[0] == "CAP_CHANGED" {
		t.Error("changing the bounding set changed the effective or permitted set: they share an array")
	}
	if b := spec.Example(); b.Process.Capabilities.Bounding[0] == "CAP_CHANGED" {
		t.Error("changing one Example() changed the next: they share state")
	}
}

func TestToRootless(t *testing.T) {
	s := spec.Example()
	spec.ToRootless(s)
	if err := validate.Spec(s, bundleWith(t, nil)); err != nil {
		t.Errorf("validate.Spec of the rootless example: %v", err)
	}
	var users int
	for _, n := range s.Linux.Namespaces {
		switch n.Type {
		case specs.NetworkNamespace:
			t.Errorf("namespaces: got a network namespace, want none (rootless cannot configure one)")
		case specs.UserNamespace:
			users++
			if n.Path != "" {
				t.Errorf("user namespace path: got %q, want a new one", n.Path)
			}
		}
	}
	if users != 1 {
		t.Errorf("user namespaces: got %d, want 1", users)
	}
	wantUID := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Geteuid()), Size: 1}}
	wantGID := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getegid()), Size: 1}}
	if !reflect.DeepEqual(s.Linux.UIDMappings, wantUID) {
		t.Errorf("uidMappings: got %+v, want %+v", s.Linux.UIDMappings, wantUID)
	}
	if !reflect.DeepEqual(s.Linux.GIDMappings, wantGID) {
		t.Errorf("gidMappings: got %+v, want %+v", s.Linux.GIDMappings, wantGID)
	}
	if s.Linux.Resources != nil {
		t.Errorf("resources: got %+v, want none", s.Linux.Resources)
	}
	for _, m := range s.Mounts {
		switch {
		case m.Destination == "/sys/fs/cgroup":
			t.Errorf("mounts: got %+v, want no cgroup mount", m)
		case m.Destination == "/sys" && (m.Type == "sysfs" || !slices.Contains(m.Options, "rbind")):
			t.Errorf("mounts: /sys: got %+v, want a recursive bind of the host's", m)
		case slices.Contains(m.Options, "gid=5"):
			t.Errorf("mounts: %s: got option gid=5, want none (gid 5 is not mapped)", m.Destination)
		}
	}
	// A second pass changes nothing.
	again := spec.Example()
	spec.ToRootless(again)
	spec.ToRootless(again)
	if !reflect.DeepEqual(again, s) {
		t.Errorf("ToRootless twice: got %+v, want %+v", again, s)
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	want := spec.Example()
	if err := spec.Write(dir, want); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got, err := spec.Load(dir)
	if err != nil {
		t.Fatalf("Load of what Write wrote: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip: got %+v, want %+v", got, want)
	}
	before, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}

	other := spec.Example()
	other.Hostname = "other"
	err = spec.Write(dir, other)
	if err == nil {
		t.Fatal("second Write: got nil error, want a refusal to overwrite")
	}
	if !strings.Contains(err.Error(), "config.json") {
		t.Errorf("second Write: got %v, want an error naming config.json", err)
	}
	after, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Errorf("config.json changed by a refused Write")
	}
}

func TestWriteNoBundle(t *testing.T) {
	if err := spec.Write(filepath.Join(t.TempDir(), "missing"), spec.Example()); err == nil {
		t.Error("Write into a missing directory: got nil error")
	}
}
