package criu

import (
	"testing"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"google.golang.org/protobuf/proto"
)

// The hand-written encoding is checked against go-criu's generated code (test-only: the husk
// binary does not link the protobuf runtime).

func TestReqMatchesGeneratedCode(t *testing.T) {
	mode := CgStrict
	req := &Req{Type: ReqRestore, NotifySuccess: Bool(true), Opts: &Opts{
		ImagesDirFd: Int32(5), Pid: Int32(-1), LeaveRunning: Bool(false), ExtUnixSk: Bool(true),
		TcpEstablished: Bool(true), ShellJob: Bool(true), FileLocks: Bool(true), LogLevel: Int32(4),
		LogFile: String("restore.log"), Ps: &PageServerInfo{Address: String("10.0.0.1"), Port: Int32(27)},
		NotifyScripts: Bool(true), Root: String("/run/husk/c/rootfs"), ParentImg: String("../parent"),
		TrackMem: Bool(true), AutoDedup: Bool(true), WorkDirFd: Int32(6), ManageCgroups: Bool(true),
		CgRoot:     []*CgroupRoot{{Ctrl: String("memory"), Path: String("/husk/c")}, {Path: String("/x")}},
		RstSibling: Bool(true),
		InheritFd:  []*InheritFd{{Key: String("/dev/null"), Fd: Int32(4)}},
		AutoExtMnt: Bool(true), ExtSharing: Bool(true), ExtMasters: Bool(true),
		ManageCgroupsMode: &mode, External: []string{"mnt[/a]:b", "dev[1/2]:c"}, EmptyNs: Uint32(0x40000000),
		JoinNs:       []*JoinNamespace{{Ns: String("net"), NsFile: String("/proc/1/ns/net")}},
		FreezeCgroup: String("/sys/fs/cgroup/freezer/c"), LazyPages: Bool(true), StatusFd: Int32(9),
		OrphanPtsMaster: Bool(true), ConfigFile: String("/etc/criu/husk.conf"),
		LsmProfile: String("apparmor:husk"), LsmMountContext: String("system_u:object_r:x:s0"),
	}}
	var got rpc.CriuReq
	if err := proto.Unmarshal(req.Marshal(), &got); err != nil {
		t.Fatalf("generated code cannot decode our request: %v", err)
	}
	cgMode := rpc.CriuCgMode_STRICT
	typ := rpc.CriuReqType_RESTORE
	want := &rpc.CriuReq{Type: &typ, NotifySuccess: proto.Bool(true), Opts: &rpc.CriuOpts{
		ImagesDirFd: proto.Int32(5), Pid: proto.Int32(-1), LeaveRunning: proto.Bool(false), ExtUnixSk: proto.Bool(true),
		TcpEstablished: proto.Bool(true), ShellJob: proto.Bool(true), FileLocks: proto.Bool(true), LogLevel: proto.Int32(4),
		LogFile: proto.String("restore.log"), Ps: &rpc.CriuPageServerInfo{Address: proto.String("10.0.0.1"), Port: proto.Int32(27)},
		NotifyScripts: proto.Bool(true), Root: proto.String("/run/husk/c/rootfs"), ParentImg: proto.String("../parent"),
		TrackMem: proto.Bool(true), AutoDedup: proto.Bool(true), WorkDirFd: proto.Int32(6), ManageCgroups: proto.Bool(true),
		CgRoot:     []*rpc.CgroupRoot{{Ctrl: proto.String("memory"), Path: proto.String("/husk/c")}, {Path: proto.String("/x")}},
		RstSibling: proto.Bool(true),
		InheritFd:  []*rpc.InheritFd{{Key: proto.String("/dev/null"), Fd: proto.Int32(4)}},
		AutoExtMnt: proto.Bool(true), ExtSharing: proto.Bool(true), ExtMasters: proto.Bool(true),
		ManageCgroupsMode: &cgMode, External: []string{"mnt[/a]:b", "dev[1/2]:c"}, EmptyNs: proto.Uint32(0x40000000),
		JoinNs:       []*rpc.JoinNamespace{{Ns: proto.String("net"), NsFile: proto.String("/proc/1/ns/net")}},
		FreezeCgroup: proto.String("/sys/fs/cgroup/freezer/c"), LazyPages: proto.Bool(true), StatusFd: proto.Int32(9),
		OrphanPtsMaster: proto.Bool(true), ConfigFile: proto.String("/etc/criu/husk.conf"),
		LsmProfile: proto.String("apparmor:husk"), LsmMountContext: proto.String("system_u:object_r:x:s0"),
	}}
	if !proto.Equal(&got, want) {
		t.Errorf("decoded by the generated code:\n%v\nwant:\n%v", &got, want)
	}
	// Unset options are not sent at all: criu's configuration file decides them.
	var bare rpc.CriuReq
	if err := proto.Unmarshal((&Req{Type: ReqDump, Opts: &Opts{ImagesDirFd: Int32(3)}}).Marshal(), &bare); err != nil {
		t.Fatal(err)
	}
	if bare.Opts.LeaveRunning != nil || bare.Opts.ShellJob != nil || bare.NotifySuccess != nil {
		t.Errorf("unset fields were sent: %v", &bare)
	}
}

func TestRespMatchesGeneratedCode(t *testing.T) {
	for _, c := range []struct {
		name string
		in   *rpc.CriuResp
		want Resp
	}{
		{"failure", &rpc.CriuResp{Type: rpc.CriuReqType_DUMP.Enum(), Success: proto.Bool(false),
			CrErrno: proto.Int32(1), CrErrmsg: proto.String("Operation not permitted"),
			Version: &rpc.CriuVersion{MajorNumber: proto.Int32(3), MinorNumber: proto.Int32(17)}},
			Resp{Type: ReqDump, CrErrno: 1, CrErrmsg: "Operation not permitted"}},
		{"notify", &rpc.CriuResp{Type: rpc.CriuReqType_NOTIFY.Enum(), Success: proto.Bool(true),
			Notify: &rpc.CriuNotify{Script: proto.String("post-restore"), Pid: proto.Int32(4242)}},
			Resp{Type: ReqNotify, Success: true, Notify: &Notify{Script: "post-restore", Pid: 4242}}},
		{"restore", &rpc.CriuResp{Type: rpc.CriuReqType_RESTORE.Enum(), Success: proto.Bool(true),
			Restore: &rpc.CriuRestoreResp{Pid: proto.Int32(77)}, Status: proto.Int32(0)},
			Resp{Type: ReqRestore, Success: true, RestorePid: 77}},
		{"dump", &rpc.CriuResp{Type: rpc.CriuReqType_DUMP.Enum(), Success: proto.Bool(true),
			Dump: &rpc.CriuDumpResp{Restored: proto.Bool(true)}},
			Resp{Type: ReqDump, Success: true, Restored: true}},
	} {
		b, err := proto.Marshal(c.in)
		if err != nil {
			t.Fatal(err)
		}
		var got Resp
		if err := got.Unmarshal(b); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.Type != c.want.Type || got.Success != c.want.Success || got.Restored != c.want.Restored ||
			got.RestorePid != c.want.RestorePid || got.CrErrno != c.want.CrErrno || got.CrErrmsg != c.want.CrErrmsg ||
			(got.Notify == nil) != (c.want.Notify == nil) || (got.Notify != nil && *got.Notify != *c.want.Notify) {
			t.Errorf("%s: got %+v (notify %+v), want %+v", c.name, got, got.Notify, c.want)
		}
	}
	// A truncated answer is an error, not a half-decoded one.
	b, _ := proto.Marshal(&rpc.CriuResp{Type: rpc.CriuReqType_DUMP.Enum(), Success: proto.Bool(true), CrErrmsg: proto.String("long message")})
	var r Resp
	if err := r.Unmarshal(b[:len(b)-3]); err == nil {
		t.Error("truncated answer decoded without error")
	}
}
