package devices

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf/asm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestInsnEncoding checks each instruction Program emits, byte for byte, against
// cilium/ebpf's assembler.
func TestInsnEncoding(t *testing.T) {
	jne := jmpImm(unix.BPF_JNE, r4, 136)
	jne.Off = 5
	jeq := jmpImm(unix.BPF_JEQ, r6, 0)
	jeq.Off = 3
	ref := func(i asm.Instruction, off int16) asm.Instruction { i.Offset = off; return i }
	for _, c := range []struct {
		name string
		got  Insn
		want asm.Instruction
	}{
		{"ldxw", ldxW(r2, r1, 8), asm.LoadMem(asm.R2, asm.R1, 8, asm.Word)},
		{"mov reg", movReg(r3, r2), asm.Mov.Reg(asm.R3, asm.R2)},
		{"mov imm", movImm(r0, 1), asm.Mov.Imm(asm.R0, 1)},
		{"rsh imm", aluImm(unix.BPF_RSH, r3, 16), asm.RSh.Imm(asm.R3, 16)},
		{"and imm", aluImm(unix.BPF_AND, r2, 0xffff), asm.And.Imm(asm.R2, 0xffff)},
		{"jne imm", jne, ref(asm.JNE.Imm(asm.R4, 136, ""), 5)},
		{"jeq imm", jeq, ref(asm.JEq.Imm(asm.R6, 0, ""), 3)},
		{"exit", exit(), asm.Return()},
	} {
		var want bytes.Buffer
		if _, err := c.want.Marshal(&want, binary.LittleEndian); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := (*[8]byte)(unsafe.Pointer(&c.got))[:]
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s: got % x, want % x (%v)", c.name, got, want.Bytes(), c.want)
		}
	}
	if unsafe.Sizeof(Insn{}) != 8 {
		t.Errorf("sizeof(Insn) = %d, want 8", unsafe.Sizeof(Insn{}))
	}
}

// run interprets a device program (the instructions Program emits) for one request.
func run(t *testing.T, prog []Insn, typ, major, minor, access int32) int32 {
	t.Helper()
	var reg [11]int64
	ctx := [3]int32{typ | access<<16, major, minor}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		dst, src := in.Regs&0xf, in.Regs>>4
		switch in.Code {
		case unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W:
			if src != r1 || in.Off%4 != 0 || in.Off < 0 || in.Off > 8 {
				t.Fatalf("pc %d: load from r%d%+d", pc, src, in.Off)
			}
			reg[dst] = int64(uint32(ctx[in.Off/4]))
		case unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X:
			reg[dst] = reg[src]
		case unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K:
			reg[dst] = int64(in.Imm)
		case unix.BPF_ALU64 | unix.BPF_RSH | unix.BPF_K:
			reg[dst] = int64(uint64(reg[dst]) >> in.Imm)
		case unix.BPF_ALU64 | unix.BPF_AND | unix.BPF_K:
			reg[dst] &= int64(in.Imm)
		case unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K:
			if reg[dst] != int64(in.Imm) {
				pc += int(in.Off)
			}
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if reg[dst] == int64(in.Imm) {
				pc += int(in.Off)
			}
		case unix.BPF_JMP | unix.BPF_EXIT:
			return int32(reg[r0])
		default:
			t.Fatalf("pc %d: unexpected opcode %#x", pc, in.Code)
		}
	}
	t.Fatal("program ran off its end")
	return 0
}

// allowed is the reference: the v1 list semantics of rules, last rule first.
func allowed(rules []Rule, typ byte, major, minor int64, access string) bool {
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		if (r.Type != 'a' && r.Type != typ) || (r.Major >= 0 && r.Major != major) || (r.Minor >= 0 && r.Minor != minor) {
			continue
		}
		want, have := accessBits(access), accessBits(r.Access)
		if r.Allow && want&^have == 0 {
			return true
		}
		if !r.Allow && want&have != 0 {
			return false
		}
	}
	return false
}

func TestProgramVerdicts(t *testing.T) {
	sets := map[string][]specs.LinuxDeviceCgroup{
		"default": append([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, DefaultAllowList()...),
		"overrides": {
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(42), Access: "rwm"},
			{Allow: false, Type: "c", Major: i64(42), Minor: i64(0), Access: "w"},
			{Allow: true, Type: "b", Major: i64(8), Minor: i64(1), Access: "r"},
		},
		"no catch-all": {{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "r"}},
		"allow all":    {{Allow: true, Access: "rwm"}},
	}
	for name, spec := range sets {
		rules, err := FromSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := Program(rules)
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range []byte{'b', 'c'} {
			for _, dev := range [][2]int64{{1, 3}, {1, 5}, {42, 0}, {42, 1}, {8, 1}, {136, 7}, {5, 2}} {
				for _, acc := range []string{"r", "w", "m", "rw", "rwm"} {
					dt := int32(devcgChar)
					if typ == 'b' {
						dt = devcgBlock
					}
					got := run(t, prog, dt, int32(dev[0]), int32(dev[1]), accessBits(acc)) == 1
					if want := allowed(rules, typ, dev[0], dev[1], acc); got != want {
						t.Errorf("%s: %c %d:%d %s: program says %v, rules say %v", name, typ, dev[0], dev[1], acc, got, want)
					}
				}
			}
		}
	}
	if _, err := Program([]Rule{{Allow: true, Type: 'x'}}); err == nil {
		t.Error("unknown type: got nil error")
	}
}

// TestAttachV2 loads and attaches programs to a cgroup of its own under the host's cgroup v2
// mount, checks that the kernel enforces them on a process in that cgroup, and that
// attaching again replaces the filter rather than adding to it.
func TestAttachV2(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: loads eBPF programs and makes a cgroup")
	}
	if os.Getenv("DEVICES_OPEN") != "" {
		// The child: open the node named in $DEVICES_OPEN, report errno.
		fd, err := unix.Open(os.Getenv("DEVICES_OPEN"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			fmt.Print(int(err.(unix.Errno)))
			os.Exit(0)
		}
		unix.Close(fd)
		fmt.Print(0)
		os.Exit(0)
	}
	v2 := ""
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			v2 = p
			break
		}
	}
	if v2 == "" {
		t.Skip("no cgroup v2 mount: device programs attach to cgroup v2 directories")
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var base string
	for _, l := range bytes.Split(own, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(l, []byte("0::")); ok {
			base = filepath.Join(v2, string(rest))
		}
	}
	if base == "" {
		t.Skip("this process has no cgroup v2 path")
	}
	dir := filepath.Join(base, "husk-devtest-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cgroup v2 directory here: %v", err)
	}
	t.Cleanup(func() { unix.Rmdir(dir) })

	nodes := t.TempDir()
	null := filepath.Join(nodes, "null") // 1:3, the memory driver's null device
	if err := unix.Mknod(null, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	openIn := func() string {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestAttachV2$")
		cmd.Env = append(os.Environ(), "DEVICES_OPEN="+null)
		// Into the cgroup before it runs anything: the clone lands it there.
		cg, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer cg.Close()
		cmd.SysProcAttr = &unix.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child: %v", err)
		}
		return string(out)
	}
	rules := func(allowNull bool) []Rule {
		r, err := FromSpec([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"},
			{Allow: allowNull, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if got := openIn(); got != "0" {
		t.Fatalf("before any filter: open null gave errno %s", got)
	}
	for i, allow := range []bool{false, true, false} {
		if err := AttachV2(dir, rules(allow)); err != nil {
			if i == 0 && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL)) {
				t.Skipf("the kernel refuses device programs here: %v", err)
			}
			t.Fatal(err)
		}
		want := "1" // EPERM
		if allow {
			want = "0"
		}
		if got := openIn(); got != want {
			t.Errorf("attach %d (allow null %v): open gave errno %s, want %s", i, allow, got, want)
		}
		fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := queryPrograms(fd)
		unix.Close(fd)
		if err != nil || len(ids) != 1 {
			t.Errorf("attach %d: programs attached: %v, %v; want exactly one", i, ids, err)
		}
	}
	if _, err := loadProgram([]Insn{movImm(r0, 1)}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("verifier")) {
		t.Errorf("a program without exit: got %v, want the verifier's refusal quoted", err)
	}
}
