package validate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Spec checks s; bundle resolves a relative root.path. It returns the first problem found.
func Spec(s *specs.Spec, bundle string) error {
	checks := []func(*specs.Spec, string) error{
		version, root, process, namespaces, mounts, sysctls, cgroupsPath, hooks,
	}
	for _, c := range checks {
		if err := c(s, bundle); err != nil {
			return err
		}
	}
	return nil
}

func version(s *specs.Spec, _ string) error {
	v := s.Version
	if v == "" {
		return errors.New("ociVersion: must be set")
	}
	if !strings.HasPrefix(v, "1.") {
		return fmt.Errorf("ociVersion %q: unsupported major version (husk implements runtime-spec %s)", v, specs.Version)
	}
	return nil
}

func root(s *specs.Spec, bundle string) error {
	if s.Root == nil || s.Root.Path == "" {
		return errors.New("root.path: must be set")
	}
	p := s.Root.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(bundle, p)
	}
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("root.path %q: %w", s.Root.Path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("root.path %q: not a directory", s.Root.Path)
	}
	return nil
}

// Process checks a process (config.json's, or exec's process.json).
func Process(p *specs.Process, field string) error {
	if p == nil {
		return fmt.Errorf("%s: must be set", field)
	}
	if len(p.Args) == 0 || p.Args[0] == "" {
		return fmt.Errorf("%s.args: must not be empty", field)
	}
	if p.Cwd != "" && !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("%s.cwd %q: must be an absolute path", field, p.Cwd)
	}
	seen := map[string]bool{}
	for i, r := range p.Rlimits {
		if !strings.HasPrefix(r.Type, "RLIMIT_") {
			return fmt.Errorf("%s.rlimits[%d].type: unknown rlimit %q", field, i, r.Type)
		}
		if seen[r.Type] {
			return fmt.Errorf("%s.rlimits[%d].type: duplicate %s", field, i, r.Type)
		}
		if r.Soft > r.Hard {
			return fmt.Errorf("%s.rlimits[%d] %s: soft limit %d is above hard limit %d", field, i, r.Type, r.Soft, r.Hard)
		}
		seen[r.Type] = true
	}
	return nil
}

func process(s *specs.Spec, _ string) error {
	if s.Process == nil {
		return nil // allowed by the spec for create-less uses; create checks
	}
	return Process(s.Process, "process")
}

var nsTypes = map[specs.LinuxNamespaceType]bool{
	specs.PIDNamespace: true, specs.NetworkNamespace: true, specs.MountNamespace: true,
	specs.IPCNamespace: true, specs.UTSNamespace: true, specs.UserNamespace: true,
	specs.CgroupNamespace: true, specs.TimeNamespace: true,
}

func hasNS(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	for _, n := range s.Linux.Namespaces {
		if n.Type == t {
			return true
		}
	}
	return false
}

func namespaces(s *specs.Spec, _ string) error {
	if s.Linux == nil {
		return nil
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for i, n := range s.Linux.Namespaces {
		if !nsTypes[n.Type] {
			return fmt.Errorf("linux.namespaces[%d].type: unknown namespace type %q", i, n.Type)
		}
		if seen[n.Type] {
			return fmt.Errorf("linux.namespaces[%d].type: duplicate %s namespace", i, n.Type)
		}
		seen[n.Type] = true
		if n.Path != "" {
			// Paths go to husk init one per line (libcontainer/nsenter).
			if strings.ContainsAny(n.Path, "\n\x00") {
				return fmt.Errorf("linux.namespaces[%d].path %q: invalid path", i, n.Path)
			}
			if !filepath.IsAbs(n.Path) {
				return fmt.Errorf("linux.namespaces[%d].path %q: must be absolute", i, n.Path)
			}
			if _, err := os.Stat(n.Path); err != nil {
				return fmt.Errorf("linux.namespaces[%d].path: %w", i, err)
			}
		}
	}
	if (len(s.Linux.UIDMappings) > 0 || len(s.Linux.GIDMappings) > 0) && !seen[specs.UserNamespace] {
		return errors.New("linux.uidMappings: mappings need a user namespace in linux.namespaces")
	}
	if seen[specs.UserNamespace] && nsPath(s, specs.UserNamespace) == "" {
		// An empty map written to gid_map fails, and an unmapped gid cannot be set.
		if len(s.Linux.UIDMappings) == 0 {
			return errors.New("linux.uidMappings: a new user namespace needs uid and gid mappings")
		}
		if len(s.Linux.GIDMappings) == 0 {
			return errors.New("linux.gidMappings: a new user namespace needs uid and gid mappings")
		}
	}
	if len(s.Linux.TimeOffsets) > 0 && !seen[specs.TimeNamespace] {
		return errors.New("linux.timeOffsets: offsets need a time namespace in linux.namespaces")
	}
	for clock := range s.Linux.TimeOffsets {
		// "The key of the map is the clock: boottime or monotonic" (a key is also a line
		// sent to husk init, which must not smuggle in others).
		if clock != "boottime" && clock != "monotonic" {
			return fmt.Errorf("linux.timeOffsets %q: unknown clock (boottime or monotonic)", clock)
		}
	}
	if !seen[specs.UTSNamespace] && s.Hostname != "" {
		return errors.New("hostname: setting it needs a UTS namespace in linux.namespaces")
	}
	if !seen[specs.UTSNamespace] && s.Domainname != "" {
		return errors.New("domainname: setting it needs a UTS namespace in linux.namespaces")
	}
	return nil
}

func mounts(s *specs.Spec, _ string) error {
	for i, m := range s.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return fmt.Errorf("mounts[%d].destination %q: must be an absolute path", i, m.Destination)
		}
	}
	return nil
}

// sysctls accepts only namespaced sysctls, and only when the container has the namespace.
func sysctls(s *specs.Spec, _ string) error {
	if s.Linux == nil {
		return nil
	}
	for k := range s.Linux.Sysctl {
		switch {
		case strings.HasPrefix(k, "net."):
			if !hasNS(s, specs.NetworkNamespace) || isOurNetNS(nsPath(s, specs.NetworkNamespace)) {
				return fmt.Errorf("linux.sysctl %q: needs a network namespace", k)
			}
		case k == "kernel.msgmax", k == "kernel.msgmnb", k == "kernel.msgmni", k == "kernel.sem",
			k == "kernel.shmall", k == "kernel.shmmax", k == "kernel.shmmni", k == "kernel.shm_rmid_forced",
			strings.HasPrefix(k, "fs.mqueue."):
			if !hasNS(s, specs.IPCNamespace) {
				return fmt.Errorf("linux.sysctl %q: needs an IPC namespace", k)
			}
		case k == "kernel.hostname", k == "kernel.domainname":
			if !hasNS(s, specs.UTSNamespace) {
				return fmt.Errorf("linux.sysctl %q: needs a UTS namespace", k)
			}
		default:
			return fmt.Errorf("linux.sysctl %q: not a namespaced sysctl, refusing to change the host's", k)
		}
		if strings.Contains(k, "/") || strings.Contains(k, "..") {
			return fmt.Errorf("linux.sysctl %q: invalid name", k)
		}
	}
	return nil
}

// isOurNetNS reports whether path names the network namespace husk runs in (the host's, as
// far as the container is concerned), by any path: /proc/1/ns/net, /proc/self/ns/net, a bind
// mount of it. A net.* sysctl written there would change the host's.
func isOurNetNS(path string) bool {
	if path == "" {
		return false
	}
	if path == "/proc/1/ns/net" {
		return true
	}
	a, err := os.Stat(path)
	if err != nil {
		return false // namespaces reports it
	}
	b, err := os.Stat("/proc/self/ns/net")
	return err == nil && os.SameFile(a, b)
}

func nsPath(s *specs.Spec, t specs.LinuxNamespaceType) string {
	for _, n := range s.Linux.Namespaces {
		if n.Type == t {
			return n.Path
		}
	}
	return ""
}

func cgroupsPath(s *specs.Spec, _ string) error {
	if s.Linux == nil {
		return nil
	}
	for _, part := range strings.Split(s.Linux.CgroupsPath, "/") {
		if part == ".." {
			return fmt.Errorf("linux.cgroupsPath %q: must not contain \"..\"", s.Linux.CgroupsPath)
		}
	}
	return nil
}

func hooks(s *specs.Spec, _ string) error {
	if s.Hooks == nil {
		return nil
	}
	stages := map[string][]specs.Hook{
		"prestart": s.Hooks.Prestart, "createRuntime": s.Hooks.CreateRuntime,
		"createContainer": s.Hooks.CreateContainer, "startContainer": s.Hooks.StartContainer,
		"poststart": s.Hooks.Poststart, "poststop": s.Hooks.Poststop,
	}
	for name, hs := range stages {
		for i, h := range hs {
			if !filepath.IsAbs(h.Path) {
				return fmt.Errorf("hooks.%s[%d].path %q: must be absolute", name, i, h.Path)
			}
			if h.Timeout != nil && *h.Timeout <= 0 {
				return fmt.Errorf("hooks.%s[%d].timeout: must be greater than zero", name, i)
			}
		}
	}
	return nil
}
