package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// extraCommand runs the subcommands for the process and linux extras tests
// (integration/process_extra_test.go) and reports whether name was one of them:
//
//	probe uname | sched | ioprio | affinity | mempolicy | clocks | notify TEXT
func extraCommand(name string, args []string) bool {
	switch name {
	case "uname":
		// The machine field, as `uname -m` prints it (personality LINUX32: i686).
		var u unix.Utsname
		check(unix.Uname(&u))
		fmt.Println(unix.ByteSliceToString(u.Machine[:]))
	case "sched":
		a, err := unix.SchedGetAttr(0, 0)
		check(err)
		fmt.Printf("policy=%d nice=%d priority=%d flags=%#x\n", a.Policy, a.Nice, a.Priority, a.Flags)
	case "ioprio":
		// ioprio_get(IOPRIO_WHO_PROCESS, 0)
		v, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, 1, 0, 0)
		if errno != 0 {
			check(errno)
		}
		fmt.Printf("class=%d level=%d\n", v>>13, v&0x1fff)
	case "affinity":
		var set unix.CPUSet
		check(unix.SchedGetaffinity(0, &set))
		var cpus []string
		for i := 0; i < len(set)*64; i++ {
			if set.IsSet(i) {
				cpus = append(cpus, fmt.Sprint(i))
			}
		}
		fmt.Println(strings.Join(cpus, ","))
	case "mempolicy":
		// get_mempolicy(&mode, &mask, maxnode, 0, 0): the mode with its flags, and the nodes.
		var mode int32
		var mask [16]uint64
		_, _, errno := unix.Syscall6(unix.SYS_GET_MEMPOLICY, uintptr(unsafe.Pointer(&mode)),
			uintptr(unsafe.Pointer(&mask[0])), uintptr(len(mask)*64), 0, 0, 0)
		if errno != 0 {
			check(errno)
		}
		var nodes []string
		for i := 0; i < len(mask)*64; i++ {
			if mask[i/64]&(1<<(i%64)) != 0 {
				nodes = append(nodes, fmt.Sprint(i))
			}
		}
		fmt.Printf("mode=%d flags=%#x nodes=%s\n", mode&^unix.MPOL_MODE_FLAGS, mode&unix.MPOL_MODE_FLAGS, strings.Join(nodes, ","))
	case "clocks":
		// Seconds of CLOCK_MONOTONIC and CLOCK_BOOTTIME (time namespace offsets).
		var mono, boot unix.Timespec
		check(unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono))
		check(unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot))
		fmt.Printf("monotonic=%d boottime=%d\n", mono.Sec, boot.Sec)
	case "notify":
		// sd_notify(3): send TEXT (default READY=1) to $NOTIFY_SOCKET.
		text := "READY=1"
		if len(args) > 0 {
			text = args[0]
		}
		path := os.Getenv("NOTIFY_SOCKET")
		if path == "" {
			fail("NOTIFY_SOCKET is not set")
		}
		if strings.HasPrefix(path, "@") {
			path = "\x00" + path[1:]
		}
		conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
		check(err)
		_, err = conn.Write([]byte(text))
		check(err)
		check(conn.Close())
		fmt.Println("sent")
	default:
		return false
	}
	return true
}
