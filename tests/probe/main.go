// Command probe runs inside test containers and reports what the container sees. It is built
// static (CGO_ENABLED=0) so that it is the whole test rootfs with busybox.
//
//	probe hostname | domainname | id | caps | mounts | fds | cwd | env | pid | ppid | tty
//	probe cat FILE | write FILE TEXT | ls DIR | stat PATH | readlink PATH
//	probe rlimit NAME | oomscore | nnp | seccomp | sleep SECONDS | exit CODE | mkdir DIR
//	probe sysctl NAME | alloc MIB | forkbomb | spin SECONDS | signals
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
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
	case "walk":
		need(args, 1)
		_ = filepath.Walk(args[0], func(p string, fi os.FileInfo, err error) error {
			if err == nil {
				fmt.Println(p)
			}
			return nil
		})
	default:
		fail("unknown command " + os.Args[1])
	}
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
