package seccomp

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestEnosysPrefix(t *testing.T) {
	const (
		x8664 = unix.AUDIT_ARCH_X86_64
		arm   = unix.AUDIT_ARCH_ARM
		i386  = unix.AUDIT_ARCH_I386
		// marker is what the stand-in for libseccomp's program returns.
		marker = 0x7fff1234
	)
	enosys := retErrno(unix.ENOSYS)
	tests := []struct {
		name   string
		limits []abiLimit
		calls  []seccompData
		want   []uint32
	}{
		{
			name:   "one ABI",
			limits: []abiLimit{{audit: i386, max: 100}},
			calls:  []seccompData{{arch: i386, nr: 100}, {arch: i386, nr: 101}, {arch: i386, nr: 0}, {arch: arm, nr: 500}},
			want:   []uint32{marker, enosys, marker, marker},
		},
		{
			name:   "private range",
			limits: []abiLimit{{audit: arm, max: 300, private: 0x0f0000}},
			calls:  []seccompData{{arch: arm, nr: 300}, {arch: arm, nr: 301}, {arch: arm, nr: 0x0effff}, {arch: arm, nr: 0x0f0002}},
			want:   []uint32{marker, enosys, enosys, marker},
		},
		{
			name: "x86_64 and x32",
			limits: []abiLimit{
				{audit: x8664, max: 300},
				{audit: x8664, x32: true, max: x32SyscallBit + 400, private: x32SyscallBit + 512},
				{audit: i386, max: 20},
			},
			calls: []seccompData{
				{arch: x8664, nr: 300}, {arch: x8664, nr: 301},
				{arch: x8664, nr: x32SyscallBit + 400}, {arch: x8664, nr: x32SyscallBit + 401},
				{arch: x8664, nr: x32SyscallBit + 515}, {arch: i386, nr: 21},
			},
			want: []uint32{marker, enosys, marker, enosys, marker, enosys},
		},
		{
			name:   "x32 only",
			limits: []abiLimit{{audit: x8664, x32: true, max: x32SyscallBit + 10, private: x32SyscallBit + 512}},
			calls:  []seccompData{{arch: x8664, nr: 1000}, {arch: x8664, nr: x32SyscallBit + 11}},
			want:   []uint32{marker, enosys},
		},
		{
			name:   "x86_64 only leaves x32 numbers alone",
			limits: []abiLimit{{audit: x8664, max: 300}},
			calls:  []seccompData{{arch: x8664, nr: 301}, {arch: x8664, nr: x32SyscallBit}},
			want:   []uint32{enosys, marker},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix, err := enosysPrefix(tt.limits)
			if err != nil {
				t.Fatal(err)
			}
			prog := append(prefix, unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: marker})
			for i, d := range tt.calls {
				got, err := runBPF(prog, d)
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.want[i] {
					t.Errorf("arch %#x nr %#x: got %#x, want %#x", d.arch, d.nr, got, tt.want[i])
				}
			}
		})
	}
	if p, err := enosysPrefix(nil); p != nil || err != nil {
		t.Errorf("enosysPrefix(nil): got %d instructions, %v; want none", len(p), err)
	}
}
