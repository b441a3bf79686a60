package devices

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The eBPF side of the package, on the bpf(2) system call itself: the five
// commands a device program needs (load, query, attach, detach, get by id).
// A library such as cilium/ebpf would cost every husk command its package
// initialisation and 3 MB of binary; its assembler serves as the reference
// in the tests.

// Insn is one eBPF instruction, laid out as struct bpf_insn.
type Insn struct {
	Code uint8
	Regs uint8 // destination register in the low 4 bits, source in the high 4
	Off  int16
	Imm  int32
}

// The registers Program uses: R1 holds the context (struct bpf_cgroup_dev_ctx)
// on entry and R0 the verdict on exit.
const (
	r0 uint8 = iota
	r1
	r2
	r3
	r4
	r5
	r6
)

func ldxW(dst, src uint8, off int16) Insn {
	return Insn{Code: unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W, Regs: dst | src<<4, Off: off}
}

func movReg(dst, src uint8) Insn {
	return Insn{Code: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X, Regs: dst | src<<4}
}

func movImm(dst uint8, imm int32) Insn {
	return Insn{Code: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K, Regs: dst, Imm: imm}
}

// aluImm is dst = dst <op> imm, on 64 bits.
func aluImm(op uint8, dst uint8, imm int32) Insn {
	return Insn{Code: unix.BPF_ALU64 | op | unix.BPF_K, Regs: dst, Imm: imm}
}

// jmpImm jumps when dst <op> imm holds; Program sets the offset.
func jmpImm(op uint8, dst uint8, imm int32) Insn {
	return Insn{Code: unix.BPF_JMP | op | unix.BPF_K, Regs: dst, Imm: imm}
}

func exit() Insn { return Insn{Code: unix.BPF_JMP | unix.BPF_EXIT} }

func (i Insn) isJump() bool {
	return i.Code&0x07 == unix.BPF_JMP && i.Code&0xf0 != unix.BPF_EXIT
}

// bpf issues command cmd with attr, a pointer to the command's part of union bpf_attr.
func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// progLoadAttr is union bpf_attr for BPF_PROG_LOAD, up to expected_attach_type.
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

var license = []byte("Apache\x00")

// loadProgram loads insns as a BPF_PROG_TYPE_CGROUP_DEVICE program and returns its fd.
// When the verifier refuses it, the load is repeated with its log, which the
// error then quotes.
func loadProgram(insns []Insn) (int, error) {
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(insns)),
		insns:    uint64(uintptr(unsafe.Pointer(&insns[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	copy(attr.progName[:], "husk_devices")
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err == nil { // bpf(2) descriptors are always close-on-exec
		runtime.KeepAlive(insns)
		return fd, nil
	}
	log := make([]byte, 64<<10)
	attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), uint64(uintptr(unsafe.Pointer(&log[0])))
	if fd, lerr := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); lerr == nil {
		unix.Close(fd) // loads with a log, after all: report the first failure
	}
	runtime.KeepAlive(insns)
	if msg := bytes.TrimSpace(bytes.TrimRight(log, "\x00")); len(msg) > 0 {
		return -1, fmt.Errorf("%w: verifier: %s", os.NewSyscallError("bpf(BPF_PROG_LOAD)", err), msg)
	}
	return -1, os.NewSyscallError("bpf(BPF_PROG_LOAD)", err)
}

// progQueryAttr is union bpf_attr for BPF_PROG_QUERY, up to prog_cnt.
type progQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     uint64
	progCnt     uint32
	_           uint32
}

// queryPrograms lists the ids of the device programs attached to the cgroup cg.
func queryPrograms(cg int) ([]uint32, error) {
	ids := make([]uint32, 16)
	for {
		attr := progQueryAttr{
			targetFd: uint32(cg), attachType: unix.BPF_CGROUP_DEVICE,
			progIDs: uint64(uintptr(unsafe.Pointer(&ids[0]))), progCnt: uint32(len(ids)),
		}
		_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		runtime.KeepAlive(ids)
		switch {
		case err == nil:
			return ids[:attr.progCnt], nil
		case errors.Is(err, unix.ENOSPC) && int(attr.progCnt) > len(ids):
			ids = make([]uint32, attr.progCnt)
		default:
			return nil, os.NewSyscallError("bpf(BPF_PROG_QUERY)", err)
		}
	}
}

// progAttachAttr is union bpf_attr for BPF_PROG_ATTACH and BPF_PROG_DETACH.
type progAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

func attachProgram(cg, prog int) error {
	attr := progAttachAttr{
		targetFd: uint32(cg), attachBpfFd: uint32(prog),
		attachType: unix.BPF_CGROUP_DEVICE, attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	_, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return os.NewSyscallError("bpf(BPF_PROG_ATTACH)", err)
}

func detachProgram(cg, prog int) error {
	attr := progAttachAttr{targetFd: uint32(cg), attachBpfFd: uint32(prog), attachType: unix.BPF_CGROUP_DEVICE}
	_, err := bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return os.NewSyscallError("bpf(BPF_PROG_DETACH)", err)
}

// getFDByIDAttr is union bpf_attr for BPF_PROG_GET_FD_BY_ID.
type getFDByIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

// programByID opens the program with the given id.
func programByID(id uint32) (int, error) {
	attr := getFDByIDAttr{id: id}
	fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return -1, os.NewSyscallError("bpf(BPF_PROG_GET_FD_BY_ID)", err)
	}
	return fd, nil
}
