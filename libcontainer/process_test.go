package libcontainer

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestBootstrapEncode(t *testing.T) {
	tests := []struct {
		name string
		b    bootstrap
		want string
	}{
		{"empty", bootstrap{}, ""},
		{"cgroups", bootstrap{cgroupFiles: []string{"/sys/fs/cgroup/cpu/x/tasks", "/sys/fs/cgroup/pids/x/tasks"}},
			"cgroup /sys/fs/cgroup/cpu/x/tasks\ncgroup /sys/fs/cgroup/pids/x/tasks\n"},
		{"joins keep their order and spaces in paths", bootstrap{join: [][2]string{{"net", "/run/netns/my ns"}, {"user", "/proc/9/ns/user"}}},
			"join net /run/netns/my ns\njoin user /proc/9/ns/user\n"},
		{"clone flags in decimal", bootstrap{cloneFlags: unix.CLONE_NEWPID | unix.CLONE_NEWNS}, "clone 537001984\n"},
		{"time offsets", bootstrap{timens: []string{"monotonic 1 0", "boottime -2 500"}},
			"timens monotonic 1 0\ntimens boottime -2 500\n"},
		{"all, in the order the constructor applies them", bootstrap{
			timens:      []string{"boottime 5 0"},
			cloneFlags:  unix.CLONE_NEWUTS,
			join:        [][2]string{{"ipc", "/proc/1/ns/ipc"}},
			cgroupFiles: []string{"/sys/fs/cgroup/memory/c/tasks"},
		}, "cgroup /sys/fs/cgroup/memory/c/tasks\njoin ipc /proc/1/ns/ipc\nclone 67108864\ntimens boottime 5 0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.b.encode()); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSplitJoinFiles(t *testing.T) {
	tests := []struct {
		name      string
		files     []string
		wantTasks []string
		wantDir   string
	}{
		{"none", nil, nil, ""},
		{"v1 only", []string{"/sys/fs/cgroup/cpu/c/tasks", "/sys/fs/cgroup/memory/c/tasks"},
			[]string{"/sys/fs/cgroup/cpu/c/tasks", "/sys/fs/cgroup/memory/c/tasks"}, ""},
		{"cgroup2 only", []string{"/sys/fs/cgroup/c/cgroup.procs"}, nil, "/sys/fs/cgroup/c"},
		{"hybrid", []string{"/sys/fs/cgroup/cpu/c/tasks", "/sys/fs/cgroup/unified/c/cgroup.procs", "/sys/fs/cgroup/pids/c/tasks"},
			[]string{"/sys/fs/cgroup/cpu/c/tasks", "/sys/fs/cgroup/pids/c/tasks"}, "/sys/fs/cgroup/unified/c"},
		{"second cgroup.procs is written", []string{"/a/cgroup.procs", "/b/cgroup.procs"}, []string{"/b/cgroup.procs"}, "/a"},
		{"name only ending in cgroup.procs", []string{"/a/xcgroup.procs"}, []string{"/a/xcgroup.procs"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.files)
			tasks, dir := splitJoinFiles(in)
			if !slices.Equal(tasks, tt.wantTasks) || dir != tt.wantDir {
				t.Errorf("got %q, %q, want %q, %q", tasks, dir, tt.wantTasks, tt.wantDir)
			}
			if !slices.Equal(in, tt.files) {
				t.Errorf("input changed: got %q, want %q", in, tt.files)
			}
		})
	}
}

func TestHoistCloneFlags(t *testing.T) {
	plain := unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS
	for _, c := range []struct {
		name        string
		b           bootstrap
		atClone     uintptr
		inInit      int
		forksInInit bool
	}{
		{"plain namespaces go to clone", bootstrap{cloneFlags: plain}, uintptr(plain), 0, false},
		{"cgroup namespace stays for after the join", bootstrap{cloneFlags: plain | unix.CLONE_NEWCGROUP}, uintptr(plain), unix.CLONE_NEWCGROUP, false},
		{"a user namespace keeps everything", bootstrap{cloneFlags: plain | unix.CLONE_NEWUSER}, 0, plain | unix.CLONE_NEWUSER, true},
		{"a joined user namespace keeps everything", bootstrap{cloneFlags: unix.CLONE_NEWNET, join: [][2]string{{"user", "/proc/1/ns/user"}}}, 0, unix.CLONE_NEWNET, false},
		{"a time namespace keeps everything", bootstrap{cloneFlags: plain | unix.CLONE_NEWTIME}, 0, plain | unix.CLONE_NEWTIME, true},
		{"a joined pid namespace forks", bootstrap{cloneFlags: unix.CLONE_NEWNET, join: [][2]string{{"pid", "/proc/1/ns/pid"}}}, 0, unix.CLONE_NEWNET, true},
	} {
		at, in := hoistCloneFlags(&c.b)
		if at != c.atClone || in != c.inInit {
			t.Errorf("%s: got clone %#x, init %#x; want %#x, %#x", c.name, at, in, c.atClone, c.inInit)
		}
		if got := c.b.constructorForks(); got != c.forksInInit {
			t.Errorf("%s: constructorForks %v, want %v", c.name, got, c.forksInInit)
		}
	}
}
