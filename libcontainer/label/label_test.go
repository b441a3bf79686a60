package label

import (
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/opencontainers/selinux/go-selinux"
)

func TestFormatMountOptions(t *testing.T) {
	const l = "system_u:object_r:container_file_t:s0:c1,c2"
	tests := []struct {
		name, opts, label string
		enabled           bool
		want              string
	}{
		{"disabled keeps options", "mode=755", l, false, "mode=755"},
		{"disabled empty", "", l, false, ""},
		{"no label", "mode=755,size=65536k", "", true, "mode=755,size=65536k"},
		{"label only", "", l, true, `context="` + l + `"`},
		{"label appended", "mode=755", l, true, `mode=755,context="` + l + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatMountOptions(tt.opts, tt.label, tt.enabled); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFormatMountOptionsHost(t *testing.T) {
	got := FormatMountOptions("mode=755", "system_u:object_r:container_file_t:s0")
	want := "mode=755"
	if Enabled() {
		want = `mode=755,context="system_u:object_r:container_file_t:s0"`
	}
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSetDisabled(t *testing.T) {
	if Enabled() {
		t.Skip("SELinux is enabled on this host")
	}
	runtime.LockOSThread() // as init does; never unlocked
	for name, set := range map[string]func(string) error{"exec": SetExecLabel, "key": SetKeyLabel} {
		if err := set(""); err != nil {
			t.Errorf("%s: empty label with SELinux disabled: got %v, want nil", name, err)
		}
		err := set("system_u:system_r:container_t:s0")
		if !errors.Is(err, ErrDisabled) {
			t.Errorf("%s: label with SELinux disabled: got %v, want ErrDisabled", name, err)
		}
	}
	want := `set selinux exec label "system_u:system_r:container_t:s0": SELinux is disabled`
	if err := SetExecLabel("system_u:system_r:container_t:s0"); err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

func TestSetExecLabelReal(t *testing.T) {
	if !Enabled() {
		t.Skip("SELinux is disabled")
	}
	if os.Geteuid() != 0 {
		t.Skip("requires root")
	}
	runtime.LockOSThread() // never unlocked: the thread carries an exec label
	cur, err := selinux.CurrentLabel()
	if err != nil {
		t.Fatal(err)
	}
	if err := SetExecLabel(cur); err != nil {
		t.Fatal(err)
	}
	got, err := selinux.ExecLabel()
	if err != nil {
		t.Fatal(err)
	}
	if got != cur {
		t.Errorf("exec label: got %q, want %q", got, cur)
	}
	if err := SetExecLabel(""); err != nil {
		t.Fatal(err)
	}
}

func TestRelabelDisabled(t *testing.T) {
	if Enabled() {
		t.Skip("SELinux is enabled on this host")
	}
	if err := Relabel(t.TempDir(), "system_u:object_r:container_file_t:s0", false); err != nil {
		t.Errorf("relabel with SELinux disabled: got %v, want nil", err)
	}
}
