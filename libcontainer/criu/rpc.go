package criu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// The messages of criu's RPC (criu/images/rpc.proto, protobuf version 2) that husk uses,
// encoded by hand: the generated Go code and the protobuf runtime register their descriptors
// and hash the binary at start-up, about 0.2 ms of CPU in every husk command, checkpoint or
// not. Field numbers are rpc.proto's; rpc_test.go checks the encoding against go-criu's
// generated code. Optional fields are pointers (nil: not sent), as with generated code: an
// option left out lets criu's configuration file decide.

// ReqType is criu_req_type.
type ReqType int32

// The request types husk sends or receives.
const (
	ReqEmpty   ReqType = 0
	ReqDump    ReqType = 1
	ReqRestore ReqType = 2
	ReqCheck   ReqType = 3
	ReqPreDump ReqType = 4
	ReqNotify  ReqType = 6
)

func (t ReqType) String() string {
	switch t {
	case ReqEmpty:
		return "EMPTY"
	case ReqDump:
		return "DUMP"
	case ReqRestore:
		return "RESTORE"
	case ReqCheck:
		return "CHECK"
	case ReqPreDump:
		return "PRE_DUMP"
	case ReqNotify:
		return "NOTIFY"
	}
	return "TYPE_" + strconv.Itoa(int(t))
}

// CgMode is criu_cg_mode.
type CgMode int32

// The cgroup modes (--manage-cgroups-mode).
const (
	CgIgnore CgMode = 0
	CgSoft   CgMode = 3
	CgFull   CgMode = 4
	CgStrict CgMode = 5
)

func (m CgMode) String() string {
	switch m {
	case CgIgnore:
		return "IGNORE"
	case CgSoft:
		return "SOFT"
	case CgFull:
		return "FULL"
	case CgStrict:
		return "STRICT"
	}
	return "MODE_" + strconv.Itoa(int(m))
}

// Enum returns a pointer to m, for Opts.ManageCgroupsMode.
func (m CgMode) Enum() *CgMode { return &m }

// Bool, Int32, Uint32 and String return pointers to their argument, for optional fields.
func Bool(v bool) *bool { return &v }

// Int32 returns a pointer to v.
func Int32(v int32) *int32 { return &v }

// Uint32 returns a pointer to v.
func Uint32(v uint32) *uint32 { return &v }

// String returns a pointer to v.
func String(v string) *string { return &v }

// PageServerInfo is criu_page_server_info.
type PageServerInfo struct {
	Address *string // 1
	Port    *int32  // 2
}

// CgroupRoot is cgroup_root.
type CgroupRoot struct {
	Ctrl *string // 1
	Path *string // 2 (required)
}

// InheritFd is inherit_fd.
type InheritFd struct {
	Key *string // 1 (required)
	Fd  *int32  // 2 (required)
}

// JoinNamespace is join_namespace.
type JoinNamespace struct {
	Ns     *string // 1 (required)
	NsFile *string // 2 (required)
}

// Opts is criu_opts: the options husk sets.
type Opts struct {
	ImagesDirFd       *int32           // 1 (required)
	Pid               *int32           // 2
	LeaveRunning      *bool            // 3
	ExtUnixSk         *bool            // 4
	TcpEstablished    *bool            // 5
	ShellJob          *bool            // 7
	FileLocks         *bool            // 8
	LogLevel          *int32           // 9
	LogFile           *string          // 10
	Ps                *PageServerInfo  // 11
	NotifyScripts     *bool            // 12
	Root              *string          // 13
	ParentImg         *string          // 14
	TrackMem          *bool            // 15
	AutoDedup         *bool            // 16
	WorkDirFd         *int32           // 17
	ManageCgroups     *bool            // 24
	CgRoot            []*CgroupRoot    // 25
	RstSibling        *bool            // 26
	InheritFd         []*InheritFd     // 27
	AutoExtMnt        *bool            // 28
	ExtSharing        *bool            // 29
	ExtMasters        *bool            // 30
	ManageCgroupsMode *CgMode          // 34
	External          []string         // 37
	EmptyNs           *uint32          // 38
	JoinNs            []*JoinNamespace // 39
	FreezeCgroup      *string          // 44
	LazyPages         *bool            // 48
	StatusFd          *int32           // 49
	OrphanPtsMaster   *bool            // 50
	ConfigFile        *string          // 51
	LsmProfile        *string          // 53
	LsmMountContext   *string          // 63
}

// Req is criu_req.
type Req struct {
	Type          ReqType // 1 (required)
	Opts          *Opts   // 2
	NotifySuccess *bool   // 3
}

// Notify is criu_notify: an action script criu runs ("pre-dump", "post-restore" ...).
type Notify struct {
	Script string // 1
	Pid    int32  // 2
}

// Resp is criu_resp, the fields husk reads.
type Resp struct {
	Type       ReqType // 1
	Success    bool    // 2
	Restored   bool    // 3: criu_dump_resp.restored
	RestorePid int32   // 4: criu_restore_resp.pid
	Notify     *Notify // 5
	CrErrno    int32   // 7
	CrErrmsg   string  // 9
}

// protobuf wire types.
const (
	wireVarint = 0
	wireI64    = 1
	wireBytes  = 2
	wireI32    = 5
)

type enc []byte

func (e enc) key(field, wire int) enc { return binary.AppendUvarint(e, uint64(field)<<3|uint64(wire)) }

// int32 values are sign-extended to 64 bits on the wire (a negative one takes 10 bytes).
func (e enc) int32(field int, v *int32) enc {
	if v == nil {
		return e
	}
	return binary.AppendUvarint(e.key(field, wireVarint), uint64(int64(*v)))
}

func (e enc) uint32(field int, v *uint32) enc {
	if v == nil {
		return e
	}
	return binary.AppendUvarint(e.key(field, wireVarint), uint64(*v))
}

func (e enc) bool(field int, v *bool) enc {
	if v == nil {
		return e
	}
	b := uint64(0)
	if *v {
		b = 1
	}
	return binary.AppendUvarint(e.key(field, wireVarint), b)
}

func (e enc) bytes(field int, b []byte) enc {
	e = binary.AppendUvarint(e.key(field, wireBytes), uint64(len(b)))
	return append(e, b...)
}

func (e enc) string(field int, v *string) enc {
	if v == nil {
		return e
	}
	return e.bytes(field, []byte(*v))
}

func (p *PageServerInfo) encode() enc {
	return enc(nil).string(1, p.Address).int32(2, p.Port)
}

func (o *Opts) encode() enc {
	e := enc(nil).int32(1, o.ImagesDirFd).int32(2, o.Pid).bool(3, o.LeaveRunning).
		bool(4, o.ExtUnixSk).bool(5, o.TcpEstablished).bool(7, o.ShellJob).
		bool(8, o.FileLocks).int32(9, o.LogLevel).string(10, o.LogFile)
	if o.Ps != nil {
		e = e.bytes(11, o.Ps.encode())
	}
	e = e.bool(12, o.NotifyScripts).string(13, o.Root).string(14, o.ParentImg).
		bool(15, o.TrackMem).bool(16, o.AutoDedup).int32(17, o.WorkDirFd).bool(24, o.ManageCgroups)
	for _, c := range o.CgRoot {
		e = e.bytes(25, enc(nil).string(1, c.Ctrl).string(2, c.Path))
	}
	e = e.bool(26, o.RstSibling)
	for _, f := range o.InheritFd {
		e = e.bytes(27, enc(nil).string(1, f.Key).int32(2, f.Fd))
	}
	e = e.bool(28, o.AutoExtMnt).bool(29, o.ExtSharing).bool(30, o.ExtMasters)
	if o.ManageCgroupsMode != nil {
		v := int32(*o.ManageCgroupsMode)
		e = e.int32(34, &v)
	}
	for _, x := range o.External {
		e = e.bytes(37, []byte(x))
	}
	e = e.uint32(38, o.EmptyNs)
	for _, j := range o.JoinNs {
		e = e.bytes(39, enc(nil).string(1, j.Ns).string(2, j.NsFile))
	}
	return e.string(44, o.FreezeCgroup).bool(48, o.LazyPages).int32(49, o.StatusFd).
		bool(50, o.OrphanPtsMaster).string(51, o.ConfigFile).string(53, o.LsmProfile).
		string(63, o.LsmMountContext)
}

// Marshal encodes r.
func (r *Req) Marshal() []byte {
	t := int32(r.Type)
	e := enc(nil).int32(1, &t)
	if r.Opts != nil {
		e = e.bytes(2, r.Opts.encode())
	}
	return e.bool(3, r.NotifySuccess)
}

var errTruncated = errors.New("truncated message")

// field is one decoded field: its number, wire type, and value (varint) or bytes.
type field struct {
	num  int
	wire int
	v    uint64
	b    []byte
}

// fields decodes a message into its fields, in order; fixed-width fields are skipped.
func fields(b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		k, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errTruncated
		}
		b = b[n:]
		f := field{num: int(k >> 3), wire: int(k & 7)}
		switch f.wire {
		case wireVarint:
			if f.v, n = binary.Uvarint(b); n <= 0 {
				return nil, errTruncated
			}
			b = b[n:]
		case wireBytes:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return nil, errTruncated
			}
			f.b, b = b[n:n+int(l)], b[n+int(l):]
		case wireI64, wireI32:
			w := 8
			if f.wire == wireI32 {
				w = 4
			}
			if len(b) < w {
				return nil, errTruncated
			}
			b = b[w:]
			continue
		default:
			return nil, fmt.Errorf("field %d: wire type %d", f.num, f.wire)
		}
		out = append(out, f)
	}
	return out, nil
}

// Unmarshal decodes criu's answer into r; fields husk does not read are skipped.
func (r *Resp) Unmarshal(b []byte) error {
	fs, err := fields(b)
	if err != nil {
		return err
	}
	*r = Resp{}
	for _, f := range fs {
		switch f.num {
		case 1:
			r.Type = ReqType(int32(f.v))
		case 2:
			r.Success = f.v != 0
		case 3, 4:
			sub, err := fields(f.b)
			if err != nil {
				return err
			}
			for _, s := range sub {
				if s.num == 1 && f.num == 3 {
					r.Restored = s.v != 0
				} else if s.num == 1 {
					r.RestorePid = int32(s.v)
				}
			}
		case 5:
			sub, err := fields(f.b)
			if err != nil {
				return err
			}
			r.Notify = &Notify{}
			for _, s := range sub {
				switch s.num {
				case 1:
					r.Notify.Script = string(s.b)
				case 2:
					r.Notify.Pid = int32(s.v)
				}
			}
		case 7:
			r.CrErrno = int32(f.v)
		case 9:
			r.CrErrmsg = string(f.b)
		}
	}
	return nil
}
