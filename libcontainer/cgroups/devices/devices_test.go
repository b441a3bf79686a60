package devices

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(v int64) *int64 { return &v }

func TestFromSpecAndString(t *testing.T) {
	tests := []struct {
		name string
		in   specs.LinuxDeviceCgroup
		want string
		err  string
	}{
		{"deny all", specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}, "a *:* rwm", ""},
		{"empty access means rwm", specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(3)}, "c 1:3 rwm", ""},
		{"wildcard minor", specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(136), Access: "rw"}, "c 136:* rw", ""},
		{"block wildcard", specs.LinuxDeviceCgroup{Allow: true, Type: "b", Access: "m"}, "b *:* m", ""},
		{"bad type", specs.LinuxDeviceCgroup{Type: "q"}, "", "linux.resources.devices[0].type"},
		{"bad access", specs.LinuxDeviceCgroup{Access: "x"}, "", "linux.resources.devices[0].access"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := FromSpec([]specs.LinuxDeviceCgroup{tc.in})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got: %v, want error containing %q", err, tc.err)
				}
				return
			}
			if err != nil || rules[0].String() != tc.want {
				t.Fatalf("got: %v, %v; want: %q", rules, err, tc.want)
			}
		})
	}
}

func TestWriteV1(t *testing.T) {
	d := t.TempDir()
	for _, f := range []string{"devices.allow", "devices.deny"} {
		os.WriteFile(filepath.Join(d, f), nil, 0o644)
	}
	rules, _ := FromSpec([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "r"}})
	if err := WriteV1(d, rules); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"devices.deny": "a *:* rwm", "devices.allow": "c 1:5 r"} {
		if b, _ := os.ReadFile(filepath.Join(d, f)); string(b) != want {
			t.Errorf("%s: got %q, want %q", f, b, want)
		}
	}
}
