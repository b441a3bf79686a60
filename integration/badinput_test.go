package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/testutil"
)

// expectCreateFails runs create and checks it fails with a message containing want and
// leaves no state behind.
func expectCreateFails(t *testing.T, b *testutil.Bundle, want string) {
	t.Helper()
	r := b.Husk("create", "--bundle", b.Dir, b.ID)
	if r.Code == 0 {
		t.Fatalf("create succeeded, want an error containing %q", want)
	}
	if testutil.IsHusk() && !strings.Contains(r.Stderr, want) {
		t.Errorf("create error: got %q, want it to mention %q", r.Stderr, want)
	}
	if _, err := os.Stat(filepath.Join(b.Root, b.ID)); !os.IsNotExist(err) {
		t.Errorf("state dir left behind after a failed create: %v", err)
	}
	if got := b.Husk("list", "-q").Stdout; got != "" {
		t.Errorf("list after a failed create: %q", got)
	}
}

func TestBadInput(t *testing.T) {
	testutil.RequireRoot(t)
	cases := []struct {
		name   string
		mutate func(*specs.Spec)
		prep   func(*testutil.Bundle)
		want   string
		// strict marks checks husk makes that runc 1.1 does not (runc accepts the config).
		strict bool
	}{
		{"empty args", func(s *specs.Spec) { s.Process.Args = nil }, nil, "process.args", false},
		{"missing executable", func(s *specs.Spec) { s.Process.Args = []string{"/no/such/bin"} }, nil, "process.args[0]", false},
		{"executable not in PATH", func(s *specs.Spec) { s.Process.Args = []string{"nosuchcmd"} }, nil, "nosuchcmd", false},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, nil, "process.cwd", false},
		{"unknown major version", func(s *specs.Spec) { s.Version = "2.0.0" }, nil, "ociVersion", true},
		{"unknown namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, nil, "linux.namespaces", false},
		{"missing rootfs", func(s *specs.Spec) { s.Root.Path = "nonexistent" }, nil, "root.path", false},
		{"non-namespaced sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.panic": "1"} }, nil, "kernel.panic", false},
		{"unknown bind option", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/tmp", Options: []string{"rbind", "bogusopt"}})
		}, nil, "bogusopt", true},
		{"cgroupsPath with ..", func(s *specs.Spec) { s.Linux.CgroupsPath = "../../escape" }, nil, "linux.cgroupsPath", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.strict {
				testutil.RequireHusk(t)
			}
			b := testutil.NewBundle(t, tc.mutate)
			if tc.prep != nil {
				tc.prep(b)
			}
			expectCreateFails(t, b, tc.want)
		})
	}
}

func TestBadJSON(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, nil)
	if err := os.WriteFile(filepath.Join(b.Dir, "config.json"), []byte("{\n  \"ociVersion\": \"1.0.0\",\n  \"process\": {,\n}"), 0o644); err != nil {
		t.Fatal(err)
	}
	expectCreateFails(t, b, "line 3")
}

func TestMissingConfig(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, nil)
	os.Remove(filepath.Join(b.Dir, "config.json"))
	expectCreateFails(t, b, "config.json")
}

func TestInvalidIDs(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, nil)
	for _, id := range []string{"a/b", "..", "../x", "a\nb", "a\x01b", ""} {
		r := b.Husk("create", "--bundle", b.Dir, id)
		if r.Code == 0 {
			t.Errorf("create with ID %q succeeded", id)
		}
	}
	if entries, _ := os.ReadDir(b.Root); len(entries) != 0 {
		t.Errorf("state root not empty after invalid IDs: %v", entries)
	}
}

func TestDuplicateID(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} })
	b.Create()
	r := b.Husk("create", "--bundle", b.Dir, b.ID)
	if r.Code == 0 {
		t.Fatal("second create with the same ID succeeded")
	}
	if got := b.Status(); got != "created" {
		t.Errorf("the first container was disturbed: status %q", got)
	}
}

func TestCommandsOnMissingContainer(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, nil)
	for _, args := range [][]string{{"start", "nope"}, {"kill", "nope"}, {"exec", "nope", "/probe", "hostname"}, {"state", "nope"}, {"delete", "nope"}} {
		if r := b.Husk(args...); r.Code == 0 {
			t.Errorf("%v on a missing container succeeded", args)
		}
	}
}

func TestCommandsOnStoppedContainer(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "exit", "0"} })
	b.Create()
	b.MustHusk("start", b.ID)
	b.WaitStatus("stopped", 5e9)
	for _, args := range [][]string{{"start", b.ID}, {"kill", b.ID}, {"exec", b.ID, "/probe", "hostname"}} {
		if r := b.Husk(args...); r.Code == 0 {
			t.Errorf("%v on a stopped container succeeded", args)
		}
	}
	b.MustHusk("delete", b.ID)
}

// TestArgumentCounts: extra or missing arguments fail before anything is done, naming the
// command: `delete ID other` must not delete ID alone, `create ID extra` creates nothing.
func TestArgumentCounts(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} })
	b.Create()
	for _, args := range [][]string{
		{"delete", "--force", b.ID, "other"},
		{"kill", b.ID, "KILL", "extra"},
		{"start", b.ID, "extra"},
		{"create", "--bundle", b.Dir, "second", "extra"},
		{"state"},
		{"list", "extra"},
	} {
		r := b.Husk(args...)
		if r.Code != 1 {
			t.Errorf("%v: exit %d, want 1", args, r.Code)
		}
		if testutil.IsHusk() && !strings.Contains(r.Stderr, `"`+args[0]+`" requires`) {
			t.Errorf("%v: error does not name the command and the count: %s", args, r.Stderr)
		}
	}
	if got := b.Status(); got != "created" {
		t.Errorf("the container after the refused commands: status %q, want created", got)
	}
	if entries, _ := os.ReadDir(b.Root); len(entries) != 1 {
		t.Errorf("state root holds %v, want only %s", entries, b.ID)
	}
}
