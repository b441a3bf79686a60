package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseKnobs(t *testing.T) {
	dir := t.TempDir()
	exe := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	runc, crun := exe("runc"), exe("crun")
	notExe := filepath.Join(dir, "plain")
	if err := os.WriteFile(notExe, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	look := func(name string) (string, error) {
		if name == "crun" {
			return crun, nil
		}
		return "", errors.New("not found")
	}
	tests := []struct {
		name      string
		env       map[string]string
		wantErr   string
		wantNotes int
		check     func(t *testing.T, k knobs)
	}{
		{
			name: "full mode defaults",
			env:  map[string]string{"RUNTIMES": "runc=" + runc + " crun"},
			check: func(t *testing.T, k knobs) {
				if k.quick || k.rounds != 50 || k.seqRounds != 5 || k.parRounds != 10 || k.rssRounds != 8 {
					t.Errorf("rounds: got %+v, want 50/5/10/8 and not quick", k)
				}
				if len(k.runtimes) != 2 || k.runtimes[0] != (runtimeSpec{"runc", runc}) || k.runtimes[1] != (runtimeSpec{"crun", crun}) {
					t.Errorf("runtimes: got %+v", k.runtimes)
				}
				if k.seqCount != 100 || k.parCount != 20 || k.manyCount != 100 {
					t.Errorf("counts: got %d/%d/%d, want 100/20/100", k.seqCount, k.parCount, k.manyCount)
				}
				if k.bundle != filepath.Join("build", "bench") {
					t.Errorf("bundle: got %q", k.bundle)
				}
			},
		},
		{
			name: "quick",
			env:  map[string]string{"QUICK": "1", "RUNTIMES": runc},
			check: func(t *testing.T, k knobs) {
				if !k.quick || k.rounds != 10 || k.seqRounds != 1 || k.parRounds != 2 || k.rssRounds != 3 {
					t.Errorf("got %+v, want quick with 10/1/2/3", k)
				}
			},
		},
		{
			name: "rounds override quick",
			env:  map[string]string{"QUICK": "1", "ROUNDS": "30", "RUNTIMES": runc},
			check: func(t *testing.T, k knobs) {
				if k.rounds != 30 || k.seqRounds != 3 || k.parRounds != 6 || k.rssRounds != 5 {
					t.Errorf("got %d/%d/%d/%d, want 30/3/6/5", k.rounds, k.seqRounds, k.parRounds, k.rssRounds)
				}
			},
		},
		{
			name: "skip",
			env:  map[string]string{"SKIP": "many, seq", "RUNTIMES": runc},
			check: func(t *testing.T, k knobs) {
				if !k.skip["many"] || !k.skip["seq"] || len(k.skip) != 2 {
					t.Errorf("skip: got %v", k.skip)
				}
			},
		},
		{
			name:      "default runtimes drop a missing husk",
			env:       map[string]string{},
			wantNotes: 1,
		},
		{name: "bad quick", env: map[string]string{"QUICK": "yes"}, wantErr: "QUICK"},
		{name: "bad rounds", env: map[string]string{"ROUNDS": "0"}, wantErr: "ROUNDS"},
		{name: "unknown row", env: map[string]string{"SKIP": "runs"}, wantErr: `unknown row "runs"`},
		{name: "explicit missing runtime", env: map[string]string{"RUNTIMES": "husk=" + filepath.Join(dir, "husk")}, wantErr: "husk"},
		{name: "not executable", env: map[string]string{"RUNTIMES": "x=" + notExe}, wantErr: "not an executable"},
		{name: "duplicate label", env: map[string]string{"RUNTIMES": "a=" + runc + " a=" + crun}, wantErr: "duplicate"},
		{name: "bad label", env: map[string]string{"RUNTIMES": "a/b=" + runc}, wantErr: "bad label"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(dir) // "./husk" of the default must not exist
			k, notes, err := parseKnobs(func(s string) string { return tc.env[s] }, look)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error: got %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil && !(tc.wantNotes > 0 && strings.Contains(err.Error(), "no runtime")) {
				t.Fatalf("error: got %v, want none", err)
			}
			if len(notes) != tc.wantNotes {
				t.Errorf("notes: got %q, want %d", notes, tc.wantNotes)
			}
			if tc.check != nil {
				tc.check(t, k)
			}
		})
	}
}
