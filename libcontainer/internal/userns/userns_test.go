package userns

import (
	"os"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestFormatMap(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    []specs.LinuxIDMapping
		want string
	}{
		{"empty", nil, ""},
		{"one", []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}, "0 1000 1\n"},
		{"two", []specs.LinuxIDMapping{{ContainerID: 100000, HostID: 0, Size: 1000}, {ContainerID: 1000, HostID: 1000, Size: 1}}, "100000 0 1000\n1000 1000 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatMap(tc.m); got != tc.want {
				t.Errorf("got: %q, want: %q", got, tc.want)
			}
		})
	}
}

// TestNewFD makes a namespace and reads its mapping back through a process that joins it.
func TestNewFD(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("requires root to map host IDs")
	}
	f, err := NewFD([]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}}, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 2000, Size: 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st, self unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat("/proc/self/ns/user", &self); err != nil {
		t.Fatal(err)
	}
	if st.Ino == self.Ino {
		t.Fatal("got the caller's own user namespace")
	}
	// NS_GET_OWNER_UID: the owner is the creator's euid (0).
	uid, err := unix.IoctlGetInt(int(f.Fd()), unix.NS_GET_OWNER_UID)
	if err != nil {
		t.Fatal(err)
	}
	if uid != 0 {
		t.Errorf("owner uid: got %d, want 0", uid)
	}
}
