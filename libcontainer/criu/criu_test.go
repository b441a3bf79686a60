package criu

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func() (string, error)
		want string // the value, or the error's text when it starts with "error: "
	}{
		{"cgroups default", func() (string, error) { m, err := CgroupMode(""); return m.String(), err }, "SOFT"},
		{"cgroups strict", func() (string, error) { m, err := CgroupMode("strict"); return m.String(), err }, "STRICT"},
		{"cgroups bad", func() (string, error) { m, err := CgroupMode("hard"); return m.String(), err }, `error: --manage-cgroups-mode "hard"`},
		{"empty-ns network", func() (string, error) { f, err := EmptyNSFlags([]string{"network"}); return fmtHex(f), err }, "0x40000000"},
		{"empty-ns pid", func() (string, error) { f, err := EmptyNSFlags([]string{"pid"}); return fmtHex(f), err }, `error: --empty-ns "pid": only network`},
		{"page server", func() (string, error) { p, err := PageServer("10.0.0.1:27"); return psString(p), err }, "10.0.0.1 27"},
		{"page server v6", func() (string, error) { p, err := PageServer("[fd00::1]:27"); return psString(p), err }, "fd00::1 27"},
		{"page server no port", func() (string, error) { p, err := PageServer("10.0.0.1"); return psString(p), err }, "error: --page-server"},
		{"config annotation", func() (string, error) { return ConfigFile(map[string]string{ConfigAnnotation: "/x.conf"}), nil }, "/x.conf"},
		{"config annotation empty", func() (string, error) { return ConfigFile(map[string]string{ConfigAnnotation: ""}), nil }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.run()
			if strings.HasPrefix(tc.want, "error: ") {
				if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tc.want, "error: ")) {
					t.Errorf("got: %q, %v; want: an error containing %q", got, err, strings.TrimPrefix(tc.want, "error: "))
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got: %q, %v; want: %q", got, err, tc.want)
			}
		})
	}
}

func TestFindMissing(t *testing.T) {
	_, err := Find("/nonexistent/criu")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "apt-get install criu") {
		t.Errorf("got: %v, want: ErrNotFound with the install hint", err)
	}
}

func fmtHex(f uint32) string { return fmt.Sprintf("%#x", f) }

func psString(p *PageServerInfo) string {
	if p == nil || p.Address == nil || p.Port == nil {
		return ""
	}
	return fmt.Sprintf("%s %d", *p.Address, *p.Port)
}
