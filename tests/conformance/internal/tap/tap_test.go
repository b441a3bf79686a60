package tap

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		outcome  Outcome
		want     Summary
		wantPlan string
		wantOut  []string // substrings of the normalised stream
	}{
		{
			name:     "all ok with skip",
			raw:      "TAP version 13\nok 1 - a\nok 2 # SKIP not set\n1..2\n",
			want:     Summary{Points: 2, Passed: 1, Skipped: 1, Plans: []int{2}},
			wantPlan: "1..2",
		},
		{
			name:     "not ok with yaml",
			raw:      "TAP version 13\nnot ok 1 - bad\n  ---\n  {\n    \"error\": \"boom\"\n  }\n  ...\n1..1\n",
			want:     Summary{Points: 1, Failed: 1, Plans: []int{1}, ErrorDiagnostic: "boom", Failures: []string{"bad"}},
			wantPlan: "1..1",
		},
		{
			name:     "todo counts as passed",
			raw:      "TAP version 13\nnot ok 1 - later # TODO wip\n1..1\n",
			want:     Summary{Points: 1, Passed: 1, Plans: []int{1}},
			wantPlan: "1..1",
		},
		{
			name: "error yaml without test point",
			raw:  "TAP version 13\n  ---\n  {\n    \"error\": \"Hooks MUST be called in the listed order\\nRefer to: x\"\n  }\n  ...\n1..0\n",
			want: Summary{Points: 1, Failed: 1, Plans: []int{0},
				ErrorDiagnostic: "Hooks MUST be called in the listed order",
				Failures:        []string{"harness: error reported outside any test point: Hooks MUST be called in the listed order"}},
			wantPlan: "1..1",
		},
		{
			name:     "skip all",
			raw:      "TAP version 13\n1..0\n",
			want:     Summary{Plans: []int{0}},
			wantPlan: "1..0 # SKIP no test points",
		},
		{
			name:     "two streams renumbered",
			raw:      "TAP version 13\nok 1 - a\n1..1\nTAP version 13\nok 1 - b\n1..1\n",
			want:     Summary{Points: 2, Passed: 2, Plans: []int{1, 1}},
			wantPlan: "1..2",
			wantOut:  []string{"ok 2 - b", "# original header: TAP version 13", "# original plan: 1..1"},
		},
		{
			name:     "plan mismatch",
			raw:      "TAP version 13\nok 1 - a\n1..3\n",
			want:     Summary{Points: 2, Passed: 1, Failed: 1, Plans: []int{3}, Failures: []string{"harness: planned 3 test points, ran 1"}},
			wantPlan: "1..2",
		},
		{
			name:     "no plan",
			raw:      "TAP version 13\nok 1 - a\n",
			want:     Summary{Points: 2, Passed: 1, Failed: 1, Failures: []string{"harness: no plan, output is incomplete"}},
			wantPlan: "1..2",
		},
		{
			name:     "empty output exit 0 silent program",
			raw:      "",
			outcome:  Outcome{EmptyIsPass: true},
			want:     Summary{},
			wantPlan: "1..0 # SKIP no test points",
		},
		{
			name:     "empty output exit 0",
			raw:      "\n",
			want:     Summary{Points: 1, Failed: 1, Failures: []string{"harness: no TAP output"}},
			wantPlan: "1..1",
		},
		{
			name:     "empty output exit 1",
			raw:      "",
			outcome:  Outcome{ExitCode: 1},
			want:     Summary{Points: 1, Failed: 1, Failures: []string{"harness: program exited with status 1"}},
			wantPlan: "1..1",
		},
		{
			name:     "exit status",
			raw:      "TAP version 13\nok 1 - a\n1..1\n",
			outcome:  Outcome{ExitCode: 1},
			want:     Summary{Points: 2, Passed: 1, Failed: 1, Plans: []int{1}, Failures: []string{"harness: program exited with status 1"}},
			wantPlan: "1..2",
		},
		{
			name:     "timeout",
			raw:      "TAP version 13\nok 1 - a\n",
			outcome:  Outcome{ExitCode: -1, Signal: "killed", TimedOut: true, Timeout: time.Minute},
			want:     Summary{Points: 2, Passed: 1, Failed: 1, Failures: []string{"harness: program timed out after 1m0s"}},
			wantPlan: "1..2",
		},
		{
			name:     "stray output and bail out",
			raw:      "TAP version 13\nhello\nBail out! no runtime\n",
			outcome:  Outcome{ExitCode: 1},
			want:     Summary{Points: 2, Failed: 2, Failures: []string{"Bail out! no runtime", "harness: program exited with status 1"}},
			wantPlan: "1..2",
			wantOut:  []string{"# hello\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			got, err := Normalize([]byte(tt.raw), tt.outcome, &out)
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if !equalSummary(got, tt.want) {
				t.Errorf("summary = %+v, want %+v", got, tt.want)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if lines[0] != "TAP version 13" || lines[len(lines)-1] != tt.wantPlan {
				t.Errorf("stream starts %q ends %q, want header and %q\n%s", lines[0], lines[len(lines)-1], tt.wantPlan, out.String())
			}
			headers := 0
			for _, l := range lines {
				if l == "TAP version 13" {
					headers++
				}
			}
			if headers != 1 {
				t.Errorf("stream has more than one header:\n%s", out.String())
			}
			for _, s := range tt.wantOut {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stream lacks %q:\n%s", s, out.String())
				}
			}
		})
	}
}

func equalSummary(a, b Summary) bool {
	if a.Points != b.Points || a.Passed != b.Passed || a.Failed != b.Failed || a.Skipped != b.Skipped ||
		a.ErrorDiagnostic != b.ErrorDiagnostic || len(a.Plans) != len(b.Plans) || len(a.Failures) != len(b.Failures) {
		return false
	}
	for i := range a.Plans {
		if a.Plans[i] != b.Plans[i] {
			return false
		}
	}
	for i := range a.Failures {
		if a.Failures[i] != b.Failures[i] {
			return false
		}
	}
	return true
}
