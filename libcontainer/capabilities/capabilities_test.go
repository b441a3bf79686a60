package capabilities

import (
	"bytes"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      *specs.LinuxCapabilities
		last    int
		want    Caps
		wantErr string
	}{
		{name: "nil", in: nil, last: 40, want: Caps{}},
		{name: "empty", in: &specs.LinuxCapabilities{}, last: 40, want: Caps{}},
		{
			name: "each set",
			in: &specs.LinuxCapabilities{
				Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_CHECKPOINT_RESTORE"},
				Effective:   []string{"CAP_KILL"},
				Permitted:   []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
				Inheritable: []string{"CAP_NET_BIND_SERVICE"},
				Ambient:     []string{"CAP_NET_BIND_SERVICE"},
			},
			last: 40,
			want: Caps{
				Bounding:    1<<0 | 1<<5 | 1<<40,
				Effective:   1 << 5,
				Permitted:   1<<5 | 1<<10,
				Inheritable: 1 << 10,
				Ambient:     1 << 10,
			},
		},
		{
			name: "duplicates",
			in:   &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL", "CAP_KILL"}},
			last: 40,
			want: Caps{Bounding: 1 << 5},
		},
		{
			name: "unknown to the kernel is skipped",
			in: &specs.LinuxCapabilities{
				Bounding:  []string{"CAP_CHOWN", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"},
				Permitted: []string{"CAP_BPF"},
			},
			last: 37,
			want: Caps{Bounding: 1 << 0},
		},
		{
			name:    "unknown name",
			in:      &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN", "CAP_KILL", "CAP_FOO"}},
			last:    40,
			wantErr: `process.capabilities.bounding[2]: unknown capability "CAP_FOO"`,
		},
		{
			name:    "lower case is not a name",
			in:      &specs.LinuxCapabilities{Ambient: []string{"cap_chown"}},
			last:    40,
			wantErr: `process.capabilities.ambient[0]: unknown capability "cap_chown"`,
		},
		{
			name:    "missing prefix",
			in:      &specs.LinuxCapabilities{Inheritable: []string{"CHOWN"}},
			last:    40,
			wantErr: `process.capabilities.inheritable[0]: unknown capability "CHOWN"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.in, tt.last)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.want {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestParseWarnsOnce(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	_, err := parse(&specs.LinuxCapabilities{
		Bounding:  []string{"CAP_BPF", "CAP_PERFMON"},
		Permitted: []string{"CAP_BPF"},
	}, 37)
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Errorf("got %d warnings, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "capabilities=CAP_BPF,CAP_PERFMON") || !strings.Contains(out, "cap_last_cap=37") {
		t.Errorf("warning does not name the capabilities and the kernel's last: %s", out)
	}
}

func TestNames(t *testing.T) {
	n := Names()
	if len(n) != unix.CAP_LAST_CAP+1 {
		t.Fatalf("got %d names, want %d", len(n), unix.CAP_LAST_CAP+1)
	}
	for i, name := range n {
		if !strings.HasPrefix(name, "CAP_") {
			t.Errorf("names[%d] = %q", i, name)
		}
		if byName[name] != i {
			t.Errorf("byName[%q] = %d, want %d", name, byName[name], i)
		}
	}
	n[0] = "changed"
	if Names()[0] != "CAP_CHOWN" {
		t.Error("Names returns the package's own slice")
	}
}

func TestLast(t *testing.T) {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Skipf("cannot read cap_last_cap: %v", err)
	}
	want, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if got := Last(); got != want {
		t.Errorf("Last(): got %d, want %d", got, want)
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		mask uint64
		want string
	}{
		{0, ""},
		{1, "CAP_CHOWN"},
		{1<<5 | 1<<40, "CAP_KILL,CAP_CHECKPOINT_RESTORE"},
		{1 << 41, "cap_41"},
	}
	for _, tt := range tests {
		if got := String(tt.mask); got != tt.want {
			t.Errorf("String(%#x): got %q, want %q", tt.mask, got, tt.want)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	c := &specs.LinuxCapabilities{
		Bounding:  dockerDefault,
		Effective: dockerDefault,
		Permitted: dockerDefault,
	}
	for b.Loop() {
		if _, err := Parse(c); err != nil {
			b.Fatal(err)
		}
	}
}

// dockerDefault is Docker's default capability list.
var dockerDefault = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}
