package main

import "strings"

// seccompProfile is the runtime-spec linux.seccomp object.
type seccompProfile struct {
	DefaultAction   string           `json:"defaultAction"`
	DefaultErrnoRet *uint            `json:"defaultErrnoRet,omitempty"`
	Architectures   []string         `json:"architectures"`
	Syscalls        []seccompSyscall `json:"syscalls"`
}

type seccompSyscall struct {
	Names    []string     `json:"names"`
	Action   string       `json:"action"`
	ErrnoRet *uint        `json:"errnoRet,omitempty"`
	Args     []seccompArg `json:"args,omitempty"`
}

type seccompArg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value"`
	ValueTwo uint64 `json:"valueTwo,omitempty"`
	Op       string `json:"op"`
}

// allowedSyscalls is the allowlist of the benchmark's Docker-like profile,
// grouped by what the calls do. clone and personality are allowed below only
// with restricted arguments; clone3 fails with ENOSYS so libc falls back to
// clone, whose flags a filter can inspect.
var allowedSyscalls = strings.Fields(`
	read write open openat openat2 creat close close_range lseek pread64 pwrite64
	readv writev preadv pwritev preadv2 pwritev2 sendfile splice tee vmsplice
	copy_file_range fsync fdatasync syncfs sync sync_file_range truncate ftruncate
	fallocate fadvise64 readahead dup dup2 dup3 fcntl flock ioctl pipe pipe2

	stat fstat lstat newfstatat statx statfs fstatfs access faccessat faccessat2
	chmod fchmod fchmodat chown fchown lchown fchownat umask utime utimes
	utimensat futimesat getxattr lgetxattr fgetxattr setxattr lsetxattr
	fsetxattr listxattr llistxattr flistxattr removexattr lremovexattr
	fremovexattr

	getdents getdents64 getcwd chdir fchdir mkdir mkdirat rmdir rename renameat
	renameat2 link linkat unlink unlinkat symlink symlinkat readlink readlinkat
	mknod mknodat chroot

	brk mmap munmap mremap mprotect msync mincore madvise mlock mlock2 munlock
	mlockall munlockall remap_file_pages memfd_create membarrier pkey_mprotect
	pkey_alloc pkey_free

	execve execveat exit exit_group wait4 waitid fork vfork kill tkill tgkill
	getpid getppid gettid getpgid setpgid getpgrp getsid setsid set_tid_address
	prctl arch_prctl rseq set_robust_list get_robust_list futex restart_syscall
	sched_yield sched_getaffinity sched_setaffinity sched_getparam
	sched_setparam sched_getscheduler sched_setscheduler sched_get_priority_max
	sched_get_priority_min sched_rr_get_interval sched_getattr sched_setattr
	getpriority setpriority ioprio_get ioprio_set getrlimit setrlimit prlimit64
	getrusage times capget capset pidfd_open pidfd_send_signal pidfd_getfd
	seccomp uname sysinfo getcpu getrandom set_thread_area get_thread_area
	modify_ldt sethostname setdomainname

	getuid geteuid getgid getegid getresuid getresgid getgroups setuid setgid
	setreuid setregid setresuid setresgid setgroups setfsuid setfsgid

	rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait
	rt_sigqueueinfo rt_tgsigqueueinfo rt_sigsuspend sigaltstack signalfd
	signalfd4 pause alarm

	nanosleep clock_nanosleep clock_gettime clock_getres gettimeofday time
	getitimer setitimer timer_create timer_settime timer_gettime
	timer_getoverrun timer_delete timerfd_create timerfd_settime timerfd_gettime

	poll ppoll select pselect6 epoll_create epoll_create1 epoll_ctl epoll_wait
	epoll_pwait epoll_pwait2 eventfd eventfd2 inotify_init inotify_init1
	inotify_add_watch inotify_rm_watch io_setup io_destroy io_getevents
	io_pgetevents io_submit io_cancel io_uring_setup io_uring_enter
	io_uring_register

	socket socketpair connect accept accept4 bind listen getsockname getpeername
	sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg shutdown setsockopt
	getsockopt

	shmget shmat shmdt shmctl semget semop semtimedop semctl msgget msgsnd
	msgrcv msgctl mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify
	mq_getsetattr
`)

// namespaceCloneFlags are the CLONE_NEW* bits (CLONE_NEWNS 0x20000 and
// 0x02000000..0x40000000); clone is allowed only with none of them set.
const namespaceCloneFlags = 0x7e020000

// dockerLikeProfile returns a profile shaped like Docker's default: an
// allowlist of about 300 system calls, EPERM for everything else.
func dockerLikeProfile() *seccompProfile {
	eperm, enosys := uint(1), uint(38)
	p := &seccompProfile{
		DefaultAction:   "SCMP_ACT_ERRNO",
		DefaultErrnoRet: &eperm,
		Architectures:   []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"},
		Syscalls: []seccompSyscall{
			{Names: allowedSyscalls, Action: "SCMP_ACT_ALLOW"},
			{Names: []string{"clone"}, Action: "SCMP_ACT_ALLOW", Args: []seccompArg{
				{Index: 0, Value: namespaceCloneFlags, ValueTwo: 0, Op: "SCMP_CMP_MASKED_EQ"},
			}},
			{Names: []string{"clone3"}, Action: "SCMP_ACT_ERRNO", ErrnoRet: &enosys},
		},
	}
	// personality(2): PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32
	// and the 0xffffffff query.
	for _, v := range []uint64{0x0, 0x8, 0x20000, 0x20008, 0xffffffff} {
		p.Syscalls = append(p.Syscalls, seccompSyscall{
			Names: []string{"personality"}, Action: "SCMP_ACT_ALLOW",
			Args: []seccompArg{{Index: 0, Value: v, Op: "SCMP_CMP_EQ"}},
		})
	}
	return p
}
