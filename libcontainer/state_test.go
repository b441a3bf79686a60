package libcontainer

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

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
