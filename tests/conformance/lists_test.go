package main

import (
	"strings"
	"testing"
)

func TestParseKnownFailures(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		program string
		runtime string
		want    string
		found   bool
		wantErr bool
	}{
		{name: "unscoped", in: "# c\n\nhooks  test bug\n", program: "hooks", runtime: "runc", want: "test bug", found: true},
		{name: "scoped wins", in: "hooks a\nhooks@husk b\n", program: "hooks", runtime: "husk", want: "b", found: true},
		{name: "scoped other runtime", in: "hooks@husk b\n", program: "hooks", runtime: "runc"},
		{name: "absent", in: "hooks a\n", program: "state", runtime: "runc"},
		{name: "no reason", in: "hooks\n", wantErr: true},
		{name: "duplicate", in: "hooks a\nhooks b\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := parseKnownFailures(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			got, found := k.lookup(tt.program, tt.runtime)
			if got != tt.want || found != tt.found {
				t.Errorf("lookup = %q, %v; want %q, %v", got, found, tt.want, tt.found)
			}
		})
	}
}

func TestParseBaseline(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]int
		wantErr bool
	}{
		{name: "ok", in: "# runtime min\nrunc 40\nhusk 0\n", want: map[string]int{"runc": 40, "husk": 0}},
		{name: "extra field", in: "runc 40 x\n", wantErr: true},
		{name: "negative", in: "runc -1\n", wantErr: true},
		{name: "not a number", in: "runc many\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := parseBaseline(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			for k, v := range tt.want {
				if b[k] != v {
					t.Errorf("baseline[%s] = %d, want %d", k, b[k], v)
				}
			}
			if !tt.wantErr && len(b) != len(tt.want) {
				t.Errorf("baseline = %v, want %v", b, tt.want)
			}
		})
	}
}
