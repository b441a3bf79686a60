package main

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseUser(t *testing.T) {
	cases := []struct {
		in       string
		uid, gid uint32
		hasGID   bool
		ok       bool
	}{
		{"0", 0, 0, false, true},
		{"1000", 1000, 0, false, true},
		{"1000:100", 1000, 100, true, true},
		{"0:0", 0, 0, true, true},
		{"4294967294:4294967294", 4294967294, 4294967294, true, true},
		{"4294967295", 0, 0, false, false}, // (uid_t)-1 means "unchanged" to setresuid
		{"4294967296", 0, 0, false, false},
		{"-1", 0, 0, false, false},
		{"+1", 0, 0, false, false},
		{"", 0, 0, false, false},
		{":", 0, 0, false, false},
		{"1000:", 0, 0, false, false},
		{":1000", 0, 0, false, false},
		{"1:2:3", 0, 0, false, false},
		{"root", 0, 0, false, false},
		{"0x10", 0, 0, false, false},
		{" 1", 0, 0, false, false},
		{"1\n", 0, 0, false, false},
		{"1\x00", 0, 0, false, false},
	}
	for _, tc := range cases {
		t.Run(strconv.Quote(tc.in), func(t *testing.T) {
			uid, gid, hasGID, err := parseUser(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("parseUser(%q) error %v, want ok=%v", tc.in, err, tc.ok)
			}
			if tc.ok && (uid != tc.uid || gid != tc.gid || hasGID != tc.hasGID) {
				t.Errorf("parseUser(%q) = %d, %d, %v; want %d, %d, %v", tc.in, uid, gid, hasGID, tc.uid, tc.gid, tc.hasGID)
			}
		})
	}
}

// FuzzParseUser checks that whatever `exec -u` accepts is decimal "uid[:gid]" within
// 0..2^32-2 and means what it says. The seeds run in every `go test`; fuzz with
// `go test -fuzz FuzzParseUser -run '^$' .`.
func FuzzParseUser(f *testing.F) {
	for _, s := range []string{"0", "1000:1000", "4294967294", "4294967295", "-1", "+1", "", ":", "1:2:3", "0x1", "1\x00", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		uid, gid, hasGID, err := parseUser(s)
		if err != nil {
			if !strings.Contains(err.Error(), "--user") {
				t.Errorf("parseUser(%q): error %q does not name the flag", s, err)
			}
			return
		}
		us, gs, colon := strings.Cut(s, ":")
		if colon != hasGID {
			t.Fatalf("parseUser(%q): hasGID %v", s, hasGID)
		}
		for _, part := range []struct {
			text string
			v    uint32
		}{{us, uid}, {gs, gid}} {
			if !colon && part.text == gs {
				continue
			}
			if part.text == "" || strings.Trim(part.text, "0123456789") != "" {
				t.Fatalf("parseUser(%q) accepted a non-decimal id %q", s, part.text)
			}
			n, err := strconv.ParseUint(part.text, 10, 64)
			if err != nil || n != uint64(part.v) || n >= 1<<32-1 {
				t.Fatalf("parseUser(%q) = %d for %q", s, part.v, part.text)
			}
		}
	})
}
