package rootfs

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseOptions(t *testing.T) {
	cases := []struct {
		name    string
		typ     string
		opts    []string
		want    Options
		wantErr bool
	}{
		{"tmpfs data", "tmpfs", []string{"nosuid", "size=1m", "mode=1730"},
			Options{Flags: unix.MS_NOSUID, Data: []string{"size=1m", "mode=1730"}}, false},
		{"later option wins", "tmpfs", []string{"ro", "rw"}, Options{Clear: unix.MS_RDONLY}, false},
		{"bind by type", "bind", []string{"ro"}, Options{Flags: unix.MS_RDONLY, Bind: true}, false},
		{"rbind", "none", []string{"rbind", "nosymfollow"}, Options{Flags: unix.MS_NOSYMFOLLOW, Bind: true, Recursive: true}, false},
		{"propagation", "bind", []string{"rslave", "private"},
			Options{Bind: true, Propagation: []uintptr{unix.MS_SLAVE | unix.MS_REC, unix.MS_PRIVATE}}, false},
		{"recursive attrs", "bind", []string{"rro", "rnosuid", "rexec"},
			Options{Bind: true, AttrSet: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID, AttrClr: unix.MOUNT_ATTR_NOEXEC}, false},
		{"tmpcopyup", "tmpfs", []string{"tmpcopyup"}, Options{TmpCopyUp: true}, false},
		{"unknown bind option", "bind", []string{"rbind", "bogus"}, Options{}, true},
		{"bind data with =", "bind", []string{"bind", "x=y"}, Options{Bind: true, Data: []string{"x=y"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOptions(tc.typ, tc.opts)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseOptions(%q, %q): got %+v, want an error", tc.typ, tc.opts, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseOptions(%q, %q): %v", tc.typ, tc.opts, err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("ParseOptions(%q, %q):\n got: %+v\nwant: %+v", tc.typ, tc.opts, *got, tc.want)
			}
		})
	}
}

func TestCopyTree(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "a", "b"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a", "b", "f"), []byte("data"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("b/f", filepath.Join(src, "a", "link")); err != nil {
		t.Fatal(err)
	}
	if err := copyTree(src+"/.", dst); err != nil {
		t.Fatalf("copyTree: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(dst, "a", "b", "f")); err != nil || string(data) != "data" {
		t.Errorf("copied file: got %q, %v; want \"data\"", data, err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "a", "b", "f")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("copied file mode: got %v, %v; want 0640", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "a")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("copied dir mode: got %v, %v; want 0750", fi, err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "a", "link")); err != nil || l != "b/f" {
		t.Errorf("copied symlink: got %q, %v; want b/f", l, err)
	}
}
