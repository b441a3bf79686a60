package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/initplan"
)

func TestSharedAfter(t *testing.T) {
	shared := &mountinfo.Info{Mountpoint: "/var", Optional: "shared:12"}
	private := &mountinfo.Info{Mountpoint: "/var"}
	root := &mountinfo.Info{Mountpoint: "/", Optional: "shared:1"}
	for _, c := range []struct {
		name string
		m    *mountinfo.Info
		prop uintptr
		want bool
	}{
		{"rslave unshares everything", shared, unix.MS_SLAVE | unix.MS_REC, false},
		{"rprivate unshares everything", shared, unix.MS_PRIVATE | unix.MS_REC, false},
		{"rshared shares everything", private, unix.MS_SHARED | unix.MS_REC, true},
		{"slave on / leaves /var shared", shared, unix.MS_SLAVE, true},
		{"slave on / leaves /var private", private, unix.MS_SLAVE, false},
		{"slave on / unshares /", root, unix.MS_SLAVE, false},
		{"shared on / shares /", &mountinfo.Info{Mountpoint: "/"}, unix.MS_SHARED, true},
	} {
		if got := sharedAfter(c.m, c.prop); got != c.want {
			t.Errorf("%s: got %v", c.name, got)
		}
	}
}

func TestCheckPlannable(t *testing.T) {
	if inUserNS() {
		t.Skip("running in a user namespace: every config needs the Go init")
	}
	ok := &Config{Mounts: []specs.Mount{{Destination: "/proc", Type: "proc"}}}
	if err := CheckPlannable(ok); err != nil {
		t.Fatalf("plain config: %v", err)
	}
	for name, cfg := range map[string]*Config{
		"user namespace": {UserNS: true},
		"tmpcopyup":      {Mounts: []specs.Mount{{Destination: "/tmp", Type: "tmpfs", Options: []string{"tmpcopyup"}}}},
		"idmap":          {Mounts: []specs.Mount{{Destination: "/data", Type: "bind", Source: "/tmp", Options: []string{"rbind", "idmap"}}}},
	} {
		if err := CheckPlannable(cfg); !errors.Is(err, ErrNotPlannable) {
			t.Errorf("%s: got %v, want ErrNotPlannable", name, err)
		}
	}
}

// TestPlanPrepare checks the decisions made in the parent: a bind mount of a file gets a
// file mount point, proc must land on a directory, /dev gets its devices and links, and a
// bad config fails while planning, naming the field.
func TestPlanPrepare(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hosts")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{
		Rootfs: dir,
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"},
			{Destination: "/etc/hosts", Type: "bind", Source: file, Options: []string{"rbind", "ro"}},
		},
		MaskedPaths: []string{"/proc/kcore"},
	}
	var p initplan.Plan
	r, err := PlanPrepare(&p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.PlanFinish()
	count := map[initplan.Op]int{}
	for _, op := range p.Ops() {
		count[op]++
	}
	for op, want := range map[initplan.Op]int{
		initplan.OpCheckDir:     1,                   // proc
		initplan.OpMkfileInRoot: 1,                   // the file bind mount
		initplan.OpRemountBind:  1,                   // its "ro"
		initplan.OpMknod:        len(DefaultDevices), // /dev
		initplan.OpMask:         1,                   // maskedPaths
		initplan.OpPivot:        1,                   // pivot_root
		initplan.OpOpen:         1,                   // the rootfs handle
	} {
		if count[op] != want {
			t.Errorf("op %d appears %d times, want %d", op, count[op], want)
		}
	}
	if count[initplan.OpSymlink] < 5 {
		t.Errorf("%d /dev symlinks, want fd, stdin, stdout, stderr and ptmx", count[initplan.OpSymlink])
	}
	if _, err := p.Bytes(); err != nil {
		t.Fatal(err)
	}

	bad := &Config{Rootfs: dir, Mounts: []specs.Mount{{Destination: "relative", Type: "tmpfs"}}}
	if _, err := PlanPrepare(&initplan.Plan{}, bad); err == nil || !contains(err.Error(), "mounts[0]") {
		t.Errorf("relative destination: got %v, want an error naming mounts[0]", err)
	}
	missing := &Config{Rootfs: dir, Mounts: []specs.Mount{{Destination: "/x", Type: "bind", Source: filepath.Join(dir, "nope")}}}
	if _, err := PlanPrepare(&initplan.Plan{}, missing); err == nil || !contains(err.Error(), "bind source") {
		t.Errorf("missing bind source: got %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestMountTable: filtering a mount table the caller read gives what reading
// /proc/self/mountinfo with the filter gives.
func TestMountTable(t *testing.T) {
	all, err := mountinfo.GetMounts(nil)
	if err != nil {
		t.Fatal(err)
	}
	given := &Config{HostMounts: all}
	read := &Config{}
	for _, f := range []mountinfo.FilterFunc{nil, mountinfo.ParentsFilter("/proc/self"), mountinfo.FSTypeFilter("proc", "cgroup")} {
		want, err1 := read.mountTable(f)
		got, err2 := given.mountTable(f)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("mountTable: from HostMounts %v (%v), read %v (%v)", got, err2, want, err1)
		}
	}
}
