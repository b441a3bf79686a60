package seccomp

import (
	"regexp"
	"slices"
	"testing"
)

func TestVersion(t *testing.T) {
	if v := Version(); !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Errorf("Version: got %q, want major.minor.micro", v)
	}
}

func TestFeatures(t *testing.T) {
	f := Features()
	if f.Enabled == nil || !*f.Enabled {
		t.Error("Enabled: got unset or false")
	}
	for _, tt := range []struct {
		field string
		got   []string
		want  []string
	}{
		{"actions", f.Actions, []string{"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_NOTIFY"}},
		{"operators", f.Operators, []string{"SCMP_CMP_EQ", "SCMP_CMP_MASKED_EQ"}},
		{"archs", f.Archs, []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"}},
		{"knownFlags", f.KnownFlags, []string{"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"}},
	} {
		for _, w := range tt.want {
			if !slices.Contains(tt.got, w) {
				t.Errorf("%s: %q missing from %q", tt.field, w, tt.got)
			}
		}
	}
	for _, fl := range f.SupportedFlags {
		if !slices.Contains(f.KnownFlags, fl) {
			t.Errorf("supportedFlags: %q is not a known flag", fl)
		}
	}
	t.Logf("supported flags %q, actions %q", f.SupportedFlags, SupportedActions())
}
