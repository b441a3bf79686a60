package seccomp

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"golang.org/x/sys/unix"
)

// maxInsns is the kernel's limit on the length of a classic BPF program
// (BPF_MAXINSNS in include/uapi/linux/bpf_common.h).
const maxInsns = 4096

// insnSize is the size of one struct sock_filter.
const insnSize = 8

// Program is a compiled filter, ready for [Load]. It is produced by
// [Compile] in the parent and travels to the container init as JSON.
type Program struct {
	// Filter is the classic BPF program, at most 4096 instructions.
	Filter []unix.SockFilter
	// Flags holds the SECCOMP_FILTER_FLAG_* bits passed to seccomp(2):
	// those named in linux.seccomp.flags, plus NEW_LISTENER (and
	// TSYNC_ESRCH with TSYNC) when Notify is set.
	Flags uint
	// Notify is true when a rule uses SCMP_ACT_NOTIFY, so that loading
	// the filter yields a listener fd for the seccomp agent.
	Notify bool
}

// programJSON is the wire form of a Program: the filter is the kernel's
// struct sock_filter array in host byte order, base64-encoded, which is a
// quarter of the size of a JSON array of objects.
type programJSON struct {
	Filter string `json:"filter"`
	Flags  uint   `json:"flags,omitempty"`
	Notify bool   `json:"notify,omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (p *Program) MarshalJSON() ([]byte, error) {
	return json.Marshal(programJSON{
		Filter: base64.StdEncoding.EncodeToString(encodeFilter(p.Filter)),
		Flags:  p.Flags,
		Notify: p.Notify,
	})
}

// UnmarshalJSON implements json.Unmarshaler. It rejects programs that
// [Load] would reject, so a corrupt cache entry or message fails early.
func (p *Program) UnmarshalJSON(b []byte) error {
	var w programJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(w.Filter)
	if err != nil {
		return fmt.Errorf("decode filter: %w", err)
	}
	filter, err := decodeFilter(raw)
	if err != nil {
		return err
	}
	*p = Program{Filter: filter, Flags: w.Flags, Notify: w.Notify}
	return p.check()
}

// check reports whether p could be passed to seccomp(2).
func (p *Program) check() error {
	switch n := len(p.Filter); {
	case n == 0:
		return fmt.Errorf("%w: empty filter", ErrInvalidProgram)
	case n > maxInsns:
		return fmt.Errorf("%w: %d instructions, the kernel allows %d", ErrInvalidProgram, n, maxInsns)
	}
	return nil
}

// encodeFilter returns the kernel's in-memory layout of f.
func encodeFilter(f []unix.SockFilter) []byte {
	b := make([]byte, 0, len(f)*insnSize)
	for _, in := range f {
		b = binary.NativeEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	return b
}

// decodeFilter parses the kernel's in-memory layout, as written by
// seccomp_export_bpf.
func decodeFilter(b []byte) ([]unix.SockFilter, error) {
	if len(b)%insnSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of instructions", ErrInvalidProgram, len(b))
	}
	f := make([]unix.SockFilter, len(b)/insnSize)
	for i := range f {
		in := b[i*insnSize:]
		f[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(in[0:]),
			Jt:   in[2],
			Jf:   in[3],
			K:    binary.NativeEndian.Uint32(in[4:]),
		}
	}
	return f, nil
}

// Raw returns what Load passes to seccomp(2): the flags (NEW_LISTENER added for Notify) and
// the filter as the kernel's struct sock_filter array, for an init that loads it itself
// (libcontainer/initplan).
func (p *Program) Raw() (flags uint, filter []byte, err error) {
	if p == nil {
		return 0, nil, fmt.Errorf("seccomp filter: %w: nil program", ErrInvalidProgram)
	}
	if err := p.check(); err != nil {
		return 0, nil, fmt.Errorf("seccomp filter: %w", err)
	}
	flags = p.Flags
	if p.Notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 {
			flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		}
	}
	filter = make([]byte, 0, 8*len(p.Filter))
	for _, f := range p.Filter {
		filter = binary.LittleEndian.AppendUint16(filter, f.Code)
		filter = append(filter, f.Jt, f.Jf)
		filter = binary.LittleEndian.AppendUint32(filter, f.K)
	}
	return flags, filter, nil
}
