package apparmor

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseEnabled(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"Y\n", true},
		{"Y", true},
		{"N\n", false},
		{"", false},
		{"YES\n", false},
	}
	for _, tt := range tests {
		if got := parseEnabled([]byte(tt.in)); got != tt.want {
			t.Errorf("parseEnabled(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

// fakeOpener opens sub below dir, as procfs.OpenThreadSelf would below
// /proc/thread-self, and records what was asked for.
func fakeOpener(dir string, asked *[]string) func(string, int) (*os.File, error) {
	return func(sub string, flags int) (*os.File, error) {
		*asked = append(*asked, sub)
		return os.OpenFile(filepath.Join(dir, sub), flags, 0)
	}
}

func TestApplyProfilePathChoice(t *testing.T) {
	tests := []struct {
		name      string
		files     []string // existing under a fake thread-self
		wantFile  string   // where "exec <profile>" must land
		wantAsked []string
		wantErr   error
	}{
		{
			name:      "stacking kernel",
			files:     []string{"attr/apparmor/exec", "attr/exec"},
			wantFile:  "attr/apparmor/exec",
			wantAsked: []string{"attr/apparmor/exec"},
		},
		{
			name:      "legacy kernel",
			files:     []string{"attr/exec"},
			wantFile:  "attr/exec",
			wantAsked: []string{"attr/apparmor/exec", "attr/exec"},
		},
		{
			name:      "neither",
			wantAsked: []string{"attr/apparmor/exec", "attr/exec"},
			wantErr:   os.ErrNotExist,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				p := filepath.Join(dir, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var asked []string
			err := applyProfile(fakeOpener(dir, &asked), "husk-default")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(asked, tt.wantAsked) {
				t.Errorf("opened %q, want %q", asked, tt.wantAsked)
			}
			for _, f := range tt.files {
				data, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				want := ""
				if f == tt.wantFile {
					want = "exec husk-default"
				}
				if string(data) != want {
					t.Errorf("%s: got %q, want %q", f, data, want)
				}
			}
		})
	}
}

func TestApplyProfileNoFallbackOnOtherErrors(t *testing.T) {
	var asked []string
	open := func(sub string, flags int) (*os.File, error) {
		asked = append(asked, sub)
		return nil, &os.PathError{Op: "openat2", Path: "/proc/thread-self/" + sub, Err: unix.EXDEV}
	}
	err := applyProfile(open, "p")
	if !errors.Is(err, unix.EXDEV) {
		t.Errorf("got %v, want EXDEV", err)
	}
	if len(asked) != 1 {
		t.Errorf("opened %q: a refused open must not fall back to the legacy file", asked)
	}
}

func TestApplyProfileBadName(t *testing.T) {
	open := func(string, int) (*os.File, error) {
		t.Fatal("opened an attribute for an invalid name")
		return nil, nil
	}
	for _, name := range []string{"a\nchangeprofile b", "a\x00b"} {
		if err := applyProfile(open, name); err == nil {
			t.Errorf("name %q: got success", name)
		}
	}
}

func TestApplyProfileEmpty(t *testing.T) {
	if err := ApplyProfile(""); err != nil {
		t.Errorf("empty profile: got %v", err)
	}
}

func TestApplyProfileDisabled(t *testing.T) {
	if IsEnabled() {
		t.Skip("AppArmor is enabled on this host")
	}
	err := ApplyProfile("husk-default")
	if !errors.Is(err, ErrNotEnabled) {
		t.Fatalf("got %v, want ErrNotEnabled", err)
	}
	if want := `apply apparmor profile "husk-default": AppArmor is not enabled on this host`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

func TestApplyProfileReal(t *testing.T) {
	if !IsEnabled() {
		t.Skip("AppArmor is not enabled on this host")
	}
	if os.Geteuid() != 0 {
		t.Skip("requires root")
	}
	runtime.LockOSThread() // never unlocked: the thread carries an exec label
	// "unconfined" always exists; applying it must succeed.
	if err := ApplyProfile("unconfined"); err != nil {
		t.Fatal(err)
	}
}
