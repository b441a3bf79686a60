package cgroups

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgtest"
)

func TestNewPicksDriver(t *testing.T) {
	tr := cgtest.NewTree(t)
	v1 := &Host{V1: map[string]string{"pids": tr.Root + "/pids"}, Unified: tr.Root + "/unified", Own: map[string]string{"pids": "/", "": "/"}}
	v2 := &Host{Unified: tr.Root, Own: map[string]string{"": "/"}}
	v2sd := &Host{Unified: tr.Root, Own: map[string]string{"": "/"}, Systemd: true}
	tests := []struct {
		name    string
		cfg     Config
		host    *Host
		driver  string
		wantErr error
	}{
		{"hybrid uses fs", Config{Name: "c"}, v1, DriverFs, nil},
		{"v2 uses fs2", Config{Name: "c"}, v2, DriverFs2, nil},
		{"systemd flag", Config{Name: "c", Systemd: true}, v2sd, DriverSystemd, nil},
		{"systemd flag without systemd", Config{Name: "c", Systemd: true}, v2, "", ErrNotSupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewForHost(tc.cfg, tc.host)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got: %v, want: %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := m.State()
			if s.Driver != tc.driver {
				t.Fatalf("driver: got %q, want %q", s.Driver, tc.driver)
			}
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var back State
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			m2, err := Load(back)
			if err != nil || m2.Path("") != m.Path("") || m2.State().Driver != tc.driver {
				t.Errorf("Load(%s): got %v, %v", b, m2, err)
			}
		})
	}
	if _, err := Load(State{Driver: "nope"}); err == nil || !strings.Contains(err.Error(), `unknown driver "nope"`) {
		t.Errorf("unknown driver: got %v", err)
	}
}

func TestValidateExported(t *testing.T) {
	err := Validate(&specs.LinuxResources{Unified: map[string]string{"memory.max": "1"}}, false)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v", err)
	}
}

// TestRealHost runs New on this machine: whichever driver it picks must
// create, run, freeze and destroy a container cgroup.
func TestRealHost(t *testing.T) {
	cgtest.RequireRoot(t)
	limit := int64(32)
	m, err := New(Config{Name: cgtest.Name(t), Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
		if m.Exists() {
			t.Error("cgroup left after Destroy")
		}
	})
	start := time.Now()
	if err := m.Create(); err != nil {
		t.Fatalf("Create: %v", err)
	}
	cmd := cgtest.Start(t, "sleep", "100")
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	if _, err := m.Stats(); err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if err := m.Kill(unix.SIGKILL); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	_ = cmd.Wait()
	if err := m.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	t.Logf("driver %s: create+apply+freeze+thaw+stats+kill+destroy in %s", m.State().Driver, time.Since(start))
}
