package main

import (
	"encoding/json"
	"testing"
)

func TestTemplates(t *testing.T) {
	for _, base := range []struct {
		name string
		json string
	}{
		{"runc spec", ""},
		{"user template", `{"ociVersion":"1.0.2","process":{"terminal":true,"args":["sh"],"cwd":"/"},` +
			`"root":{"path":"rootfs"},"linux":{"seccomp":{"defaultAction":"SCMP_ACT_KILL"},"namespaces":[{"type":"pid"}]}}`},
		{"template without process or linux", `{"ociVersion":"1.0.2","root":{"path":"x"}}`},
	} {
		t.Run(base.name, func(t *testing.T) { testTemplates(t, []byte(base.json)) })
	}
	if _, err := newTemplates("/abs/rootfs", []byte("{")); err == nil {
		t.Error("broken template: got no error")
	}
}

func testTemplates(t *testing.T, base []byte) {
	tm, err := newTemplates("/abs/rootfs", base)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		tmpl     []byte
		args     []string
		wantSecc bool
	}{
		{"true", tm.trueCmd, []string{"/bin/true"}, false},
		{"sleep", tm.sleep, []string{"/bin/sleep", "1000000"}, false},
		{"seccomp", tm.seccomp, []string{"/bin/true"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s struct {
				Process struct {
					Terminal bool
					Args     []string
				}
				Root struct {
					Path     string
					Readonly bool
				}
				Linux struct {
					CgroupsPath string
					Seccomp     *struct{ DefaultAction string }
				}
			}
			if err := json.Unmarshal(config(tc.tmpl, "huskbench-1/c1"), &s); err != nil {
				t.Fatalf("rendered config is not JSON: %v", err)
			}
			if s.Linux.CgroupsPath != "huskbench-1/c1" {
				t.Errorf("cgroupsPath: got %q, want %q", s.Linux.CgroupsPath, "huskbench-1/c1")
			}
			if s.Root.Path != "/abs/rootfs" || !s.Root.Readonly || s.Process.Terminal {
				t.Errorf("root %q terminal %v: want /abs/rootfs, false", s.Root.Path, s.Process.Terminal)
			}
			if len(s.Process.Args) != len(tc.args) || s.Process.Args[0] != tc.args[0] {
				t.Errorf("args: got %q, want %q", s.Process.Args, tc.args)
			}
			if (s.Linux.Seccomp != nil) != tc.wantSecc || (tc.wantSecc && s.Linux.Seccomp.DefaultAction != "SCMP_ACT_ERRNO") {
				t.Errorf("seccomp present: got %v, want %v", s.Linux.Seccomp != nil, tc.wantSecc)
			}
		})
	}
}

func TestDockerLikeProfile(t *testing.T) {
	p := dockerLikeProfile()
	if n := len(allowedSyscalls); n < 280 || n > 340 {
		t.Errorf("allowlist: got %d names, want about 300", n)
	}
	seen := map[string]bool{}
	for _, s := range allowedSyscalls {
		if seen[s] {
			t.Errorf("allowlist: %s twice", s)
		}
		seen[s] = true
	}
	for _, s := range []string{"clone", "clone3", "personality", "mount", "ptrace", "kexec_load", "bpf", "unshare", "setns"} {
		if seen[s] {
			t.Errorf("allowlist: %s must not be allowed without conditions", s)
		}
	}
	for _, s := range []string{"execve", "exit_group", "futex", "openat", "mmap"} {
		if !seen[s] {
			t.Errorf("allowlist: %s missing", s)
		}
	}
	if p.DefaultAction != "SCMP_ACT_ERRNO" || p.DefaultErrnoRet == nil || *p.DefaultErrnoRet != 1 {
		t.Errorf("default: got %s/%v, want SCMP_ACT_ERRNO returning EPERM", p.DefaultAction, p.DefaultErrnoRet)
	}
	if _, err := json.Marshal(p); err != nil {
		t.Fatal(err)
	}
}
