// The C container init: runs a plan of operations the parent compiled from config.json (see
// libcontainer/initplan for the format and the meaning of each op) and execs the container
// process, without ever starting the Go runtime. It is entered from husk_nsenter when the
// bootstrap message carries a "plan" line.
//
// Every step that needs a decision the parent cannot make (what a path resolves to inside the
// rootfs, whether it exists, what it is) is an op of its own here; everything else (which
// mounts, which flags, which capabilities, the seccomp BPF) was decided by the parent. All paths
// inside the rootfs are resolved with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) and used
// through /proc/self/fd/N, so no symlink in the image can redirect a mount out of the rootfs;
// writes to /proc go through a private, verified procfs instance.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <termios.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#ifndef FSCONFIG_CMD_CREATE
#include <linux/mount.h> /* libcs without the new mount API (musl) */
#endif
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cinit.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10

struct open_how_ {
	uint64_t flags, mode, resolve;
};
struct mount_attr_ {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

#define MAX_ARGS 24
#define NSLOTS 32

struct arg {
	uint32_t len;
	const char *p;
};

static int sync_fd = -1;
static int ready_sent;
static int slots[NSLOTS];
static int procfd = -1;
static char exe_path[PATH_MAX];
static char home_env[PATH_MAX + 8];

// --- reporting ---

static void send_packet(const void *b, size_t n, int fd)
{
	struct iovec iov = {.iov_base = (void *)b, .iov_len = n};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	char cbuf[CMSG_SPACE(sizeof(int))];
	if (fd >= 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	while (sendmsg(sync_fd, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

// die reports "<what>: <strerror(err)>" as the Go phase's error message (JSON) and exits.
// After the parent has gone (a created container's init after "ready"), stderr is the only
// place left, as for the Go init.
static void __attribute__((noreturn)) die_err(int err, const char *fmt, ...)
{
	char what[1536], msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (err) {
		// Spelled as Go spells errno values, lower case, like the Go init's errors.
		char e[256];
		snprintf(e, sizeof(e), "%s", strerror(err));
		if (e[0] >= 'A' && e[0] <= 'Z' && !(e[1] >= 'A' && e[1] <= 'Z'))
			e[0] += 'a' - 'A';
		snprintf(msg, sizeof(msg), "%s: %s", what, e);
	}
	else
		snprintf(msg, sizeof(msg), "%s", what);
	if (ready_sent) {
		dprintf(2, "husk init: %s\n", msg);
		_exit(255);
	}
	char out[9000];
	size_t n = 0;
	n += snprintf(out, sizeof(out), "{\"type\":\"error\",\"error\":\"");
	for (const unsigned char *s = (const unsigned char *)msg; *s && n < sizeof(out) - 16; s++) {
		if (*s == '"' || *s == '\\')
			n += snprintf(out + n, sizeof(out) - n, "\\%c", *s);
		else if (*s < 0x20)
			n += snprintf(out + n, sizeof(out) - n, "\\u%04x", *s);
		else
			out[n++] = *s;
	}
	n += snprintf(out + n, sizeof(out) - n, "\"}");
	send_packet(out, n, -1);
	_exit(255);
}

#define die(...) die_err(errno, __VA_ARGS__)

// --- plan decoding ---

static int64_t num(const struct arg *a)
{
	int64_t v = 0;
	if (a->len == 8)
		memcpy(&v, a->p, 8);
	return v;
}

// str returns a NUL-terminated string argument (the encoder terminates every byte string).
static const char *str(const struct arg *a) { return a->len ? a->p : ""; }

static int slot(const struct arg *a)
{
	int64_t s = num(a);
	if (s < 0 || s >= NSLOTS)
		return -1;
	return slots[s];
}

static void set_slot(const struct arg *a, int fd)
{
	int64_t s = num(a);
	if (s >= 0 && s < NSLOTS) {
		if (slots[s] >= 0)
			close(slots[s]);
		slots[s] = fd;
	}
}

static const char *fdpath(int fd, char *buf)
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
	return buf;
}

// --- path resolution inside the rootfs ---

static int openat2_(int dir, const char *path, uint64_t flags, uint64_t resolve)
{
	struct open_how_ how = {.flags = flags, .resolve = resolve};
	int fd;
	do {
		fd = syscall(SYS_openat2, dir, path, &how, sizeof(how));
	} while (fd < 0 && (errno == EINTR || errno == EAGAIN));
	return fd;
}

static int open_in_root(int root, const char *path)
{
	while (*path == '/')
		path++;
	if (*path == '\0')
		path = ".";
	return openat2_(root, path, O_PATH | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

// mkdir_in_root creates path and its parents inside root and returns an O_PATH handle of it.
// Each missing component is made with mkdirat in its parent's handle, which was itself
// resolved inside root: a symlink in the image cannot move the creation outside. The deepest
// existing ancestor is searched for upwards from path, as usually only the last component or
// two are missing (a hierarchy's directory under /sys/fs/cgroup, /dev/pts).
static int mkdir_in_root(int root, const char *path, mode_t mode)
{
	int fd = open_in_root(root, path);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	// buf: path without leading, trailing or repeated slashes.
	char buf[PATH_MAX];
	size_t n = 0;
	for (const char *p = path; *p; p++) {
		if (*p == '/' && (n == 0 || buf[n - 1] == '/'))
			continue;
		if (n + 1 >= sizeof(buf)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		buf[n++] = *p;
	}
	while (n > 0 && buf[n - 1] == '/')
		n--;
	buf[n] = '\0';
	// Up: buf[:len] is the ancestor tried, len 0 standing for root itself.
	size_t len = n;
	int parent;
	for (;;) {
		while (len > 0 && buf[len - 1] != '/')
			len--;
		if (len > 0)
			len--; // the slash before the component cut off
		char saved = buf[len];
		buf[len] = '\0';
		parent = open_in_root(root, buf);
		buf[len] = saved;
		if (parent >= 0)
			break;
		if (errno != ENOENT || len == 0)
			return -1;
	}
	// Down: make each missing component in its parent's handle, and reopen it through root.
	while (len < n) {
		size_t start = len == 0 ? 0 : len + 1, end = start;
		while (end < n && buf[end] != '/')
			end++;
		char saved = buf[end];
		buf[end] = '\0';
		int next = -1;
		if (mkdirat(parent, buf + start, mode) == 0 || errno == EEXIST)
			next = open_in_root(root, buf);
		buf[end] = saved;
		struct stat st;
		if (next >= 0 && (fstat(next, &st) < 0 || !S_ISDIR(st.st_mode))) {
			close(next);
			next = -1;
			errno = ENOTDIR;
		}
		int e = errno;
		close(parent);
		if (next < 0) {
			errno = e;
			return -1;
		}
		parent = next;
		len = end;
	}
	return parent;
}

// split_parent returns the last component of path and puts its parent's path in dir.
static const char *split_parent(const char *path, char *dir, size_t n)
{
	snprintf(dir, n, "%s", path);
	size_t l = strlen(dir);
	while (l > 1 && dir[l - 1] == '/')
		dir[--l] = '\0';
	char *slash = strrchr(dir, '/');
	if (!slash) {
		snprintf(dir, n, "/");
		return path;
	}
	const char *base = path + (slash - dir) + 1;
	if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	return base;
}

static int mkfile_in_root(int root, const char *path)
{
	char dir[PATH_MAX], name[NAME_MAX + 1];
	const char *base = split_parent(path, dir, sizeof(dir));
	snprintf(name, sizeof(name), "%s", base);
	char *s = strchr(name, '/');
	if (s)
		*s = '\0';
	int d = mkdir_in_root(root, dir, 0755);
	if (d < 0)
		return -1;
	int fd = openat(d, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
	int e = errno;
	close(d);
	if (fd >= 0)
		close(fd);
	else if (e != EEXIST) {
		errno = e;
		return -1;
	}
	return open_in_root(root, path);
}

// --- mounts ---

static int do_mount(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data)
{
	int r;
	do {
		r = mount(src, target, fstype, flags, data && *data ? data : NULL);
	} while (r < 0 && errno == EINTR);
	return r;
}

// remount_bind sets flags on a bind mount. In a user namespace the kernel refuses to clear
// flags the outer mount locked, so those are kept on EPERM.
static int remount_bind(const char *path, unsigned long flags)
{
	if (do_mount("", path, "", MS_REMOUNT | MS_BIND | flags, NULL) == 0)
		return 0;
	if (errno != EPERM)
		return -1;
	struct statfs sf;
	if (statfs(path, &sf) < 0) {
		errno = EPERM;
		return -1;
	}
	unsigned long locked = sf.f_flags & (MS_NODEV | MS_NOSUID | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
	return do_mount("", path, "", MS_REMOUNT | MS_BIND | flags | locked, NULL);
}

static int is_null_device(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3;
}

// --- procfs ---

static int procfs_root(void)
{
	if (procfd >= 0)
		return procfd;
	int fs = syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC);
	if (fs >= 0) {
		if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
			procfd = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
		close(fs);
	}
	if (procfd < 0)
		procfd = syscall(SYS_open_tree, AT_FDCWD, "/proc", OPEN_TREE_CLONE | O_CLOEXEC);
	if (procfd < 0)
		procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return -1;
	struct statfs sf;
	struct stat st;
	if (fstatfs(procfd, &sf) < 0 || sf.f_type != PROC_SUPER_MAGIC || fstat(procfd, &st) < 0 || st.st_ino != 1) {
		close(procfd);
		procfd = -1;
		errno = EXDEV;
		return -1;
	}
	return procfd;
}

// open_proc opens a file under a verified procfs; "self/" and "thread-self/" are spelled
// with our ids, as no symlink is followed.
static int open_proc(const char *rel, int flags)
{
	int root = procfs_root();
	if (root < 0)
		return -1;
	char path[PATH_MAX];
	if (strncmp(rel, "self/", 5) == 0)
		snprintf(path, sizeof(path), "%d/%s", getpid(), rel + 5);
	else if (strncmp(rel, "thread-self/", 12) == 0)
		snprintf(path, sizeof(path), "%d/task/%ld/%s", getpid(), (long)syscall(SYS_gettid), rel + 12);
	else
		snprintf(path, sizeof(path), "%s", rel);
	return openat2_(root, path, flags | O_CLOEXEC,
			RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
}

// --- ops ---

static void op_syscall(struct arg *a, int n)
{
	// what, nr, ptrmask, okerr1, okerr2, a0..a5
	if (n < 5)
		die_err(EINVAL, "plan: bad syscall op");
	long args[6] = {0};
	int64_t mask = num(&a[2]);
	for (int i = 0; i < 6 && 5 + i < n; i++)
		args[i] = (mask & (1 << i)) ? (long)a[5 + i].p : (long)num(&a[5 + i]);
	long r = syscall(num(&a[1]), args[0], args[1], args[2], args[3], args[4], args[5]);
	if (r < 0 && errno != num(&a[3]) && errno != num(&a[4]))
		die("%s", str(&a[0]));
}

static void op_mask(int root, const char *path, const char *what)
{
	char b1[32], b2[32];
	int t = open_in_root(root, path);
	if (t < 0) {
		if (errno == ENOENT)
			return;
		die("%s", what);
	}
	struct stat st;
	if (fstat(t, &st) < 0)
		die("%s: fstat", what);
	if (S_ISDIR(st.st_mode)) {
		if (do_mount("tmpfs", fdpath(t, b1), "tmpfs", MS_RDONLY, NULL) < 0)
			die("%s: mount tmpfs on %s", what, b1);
		close(t);
		return;
	}
	// The container's /dev/null only if it is the real 1:3 device (CVE-2025-31133), else ours.
	int null = open_in_root(root, "/dev/null");
	if (null < 0 || !is_null_device(null)) {
		if (null >= 0)
			close(null);
		null = open("/dev/null", O_PATH | O_CLOEXEC);
		if (null < 0 || !is_null_device(null))
			die_err(ENODEV, "%s: container /dev/null is not the 1:3 character device", what);
	}
	if (do_mount(fdpath(null, b2), fdpath(t, b1), "", MS_BIND, NULL) < 0)
		die("%s: bind mount /dev/null on %s", what, b1);
	close(null);
	close(t);
}

static void op_readonly(int root, const char *path, const char *what)
{
	char b1[32];
	int t = open_in_root(root, path);
	if (t < 0) {
		if (errno == ENOENT)
			return;
		die("%s", what);
	}
	if (do_mount(fdpath(t, b1), b1, "", MS_BIND | MS_REC, NULL) < 0)
		die("%s: bind mount on %s", what, b1);
	close(t);
	t = open_in_root(root, path);
	if (t < 0)
		die("%s: reopen", what);
	if (remount_bind(fdpath(t, b1), MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) < 0)
		die("%s: remount read-only %s", what, b1);
	close(t);
}

static void op_pivot(const char *rootfs, const char *what)
{
	int old = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (old < 0)
		die("%s: open /", what);
	if (chdir(rootfs) < 0)
		die("%s: chdir %s", what, rootfs);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die("%s: pivot_root %s", what, rootfs);
	if (fchdir(old) < 0)
		die("%s: fchdir old root", what);
	if (do_mount("", ".", "", MS_SLAVE | MS_REC, NULL) < 0)
		die("%s: make old root a slave", what);
	if (umount2(".", MNT_DETACH) < 0)
		die("%s: umount old root", what);
	close(old);
	if (chdir("/") < 0)
		die("%s: chdir /", what);
}

static void op_nopivot(const char *rootfs, const char *what)
{
	if (chdir(rootfs) < 0)
		die("%s: chdir %s", what, rootfs);
	if (do_mount(rootfs, "/", "", MS_MOVE, NULL) < 0)
		die("%s: move %s onto /", what, rootfs);
	if (chroot(".") < 0)
		die("%s: chroot %s", what, rootfs);
	if (chdir("/") < 0)
		die("%s: chdir /", what);
}

static void op_mknod(int root, const char *path, mode_t mode, dev_t dev, uid_t uid, gid_t gid, const char *what)
{
	char dir[PATH_MAX];
	const char *name = split_parent(path, dir, sizeof(dir));
	int d = mkdir_in_root(root, dir, 0755);
	if (d < 0)
		die("%s: create parent inside the rootfs", what);
	// Replace whatever the image has there (a file, a symlink, a FIFO: CVE-2025-31133).
	if (unlinkat(d, name, 0) < 0 && errno != ENOENT) {
		if (errno == EISDIR)
			die_err(0, "%s: a directory is in the way", what);
		die("%s: unlink", what);
	}
	if (mknodat(d, name, mode, dev) < 0)
		die("%s: mknod", what);
	if (fchownat(d, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		die("%s: chown", what);
	if (fchmodat(d, name, mode & 07777, 0) < 0)
		die("%s: chmod", what);
	close(d);
}

static void op_write_proc(const char *rel, const char *alt, const char *data, const char *what)
{
	int fd = open_proc(rel, O_WRONLY);
	if (fd < 0 && errno == ENOENT && *alt)
		fd = open_proc(alt, O_WRONLY);
	if (fd < 0)
		die("%s: open /proc/%s", what, rel);
	size_t len = strlen(data);
	if (write(fd, data, len) != (ssize_t)len)
		die("%s: write /proc/%s", what, rel);
	close(fd);
}

static void op_chdir(const char *cwd, const char *what)
{
	if (chdir(cwd) < 0) {
		if (errno != ENOENT)
			die("%s", what);
		char buf[PATH_MAX];
		snprintf(buf, sizeof(buf), "%s", cwd);
		for (char *p = buf + 1; *p; p++) {
			if (*p == '/') {
				*p = '\0';
				if (mkdir(buf, 0755) < 0 && errno != EEXIST)
					die("%s", what);
				*p = '/';
			}
		}
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			die("%s", what);
		if (chdir(cwd) < 0)
			die("%s", what);
	}
	// A cwd like /proc/self/fd/N pointing at a leaked host fd is CVE-2024-21626.
	char wd[PATH_MAX];
	if (syscall(SYS_getcwd, wd, sizeof(wd)) < 0 || wd[0] != '/')
		die_err(0, "%s: resolves outside the container", what);
}

static int check_exec(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		return -1;
	}
	if (!(st.st_mode & 0111)) {
		errno = EACCES;
		return -1;
	}
	return 0;
}

static void op_lookpath(const char *name, const char *path, const char *what)
{
	if (strchr(name, '/')) {
		if (check_exec(name) < 0)
			die("%s", what);
		snprintf(exe_path, sizeof(exe_path), "%s", name);
		return;
	}
	const char *p = path;
	for (;;) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char cand[PATH_MAX];
		if (n == 0)
			snprintf(cand, sizeof(cand), "./%s", name);
		else
			snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, p, name);
		if (check_exec(cand) == 0) {
			snprintf(exe_path, sizeof(exe_path), "%s", cand);
			return;
		}
		if (!end)
			break;
		p = end + 1;
	}
	die_err(0, "%s: executable file not found in $PATH", what);
}

// op_home sets HOME from the container's /etc/passwd entry for uid ("/" without one).
static void op_home(uid_t uid)
{
	const char *home = "/";
	static char buf[1 << 20]; // bss: only what is read is touched
	char want[16];
	snprintf(want, sizeof(want), "%u", uid);
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;
	while (fd >= 0 && (size_t)n < sizeof(buf) - 1) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += r;
	}
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		buf[n] = '\0';
		for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			// name:password:uid:gid:gecos:home:shell (passwd(5))
			char *f[7] = {0};
			int k = 0;
			for (char *s = l; k < 7; k++) {
				f[k] = s;
				s = strchr(s, ':');
				if (!s)
					break;
				*s++ = '\0';
			}
			if (k >= 5 && f[2] && strcmp(f[2], want) == 0 && f[5] && *f[5]) {
				home = f[5];
				break;
			}
		}
	}
	snprintf(home_env, sizeof(home_env), "HOME=%s", home);
}

static void op_chown_stdio(uid_t uid, gid_t gid, const char *what)
{
	for (int fd = 0; fd < 3; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0)
			continue;
		if (st.st_uid == uid && st.st_gid == gid)
			continue;
		if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3)
			continue;
		if (fchown(fd, uid, gid) < 0 && errno != EINVAL && errno != EPERM)
			die("%s: give stdio fd %d to %u:%u", what, fd, uid, gid);
	}
}

static void op_drop_bounding(uint64_t keep, int last, const char *what)
{
	for (int n = 0; n <= last; n++) {
		if (keep & (1ULL << n))
			continue;
		if (prctl(PR_CAPBSET_DROP, n, 0, 0, 0) == 0)
			continue;
		if (errno == EPERM && prctl(PR_CAPBSET_READ, n, 0, 0, 0) == 0)
			continue;
		die("%s: drop bounding capability %d", what, n);
	}
}

static void op_capset(uint64_t eff, uint64_t perm, uint64_t inh, uint64_t amb, const char *what)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {
		{.effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh},
		{.effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32), .inheritable = (uint32_t)(inh >> 32)},
	};
	if (syscall(SYS_capset, &hdr, data) < 0)
		die("%s: capset", what);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
		if (errno == EINVAL && amb == 0)
			return;
		die("%s: clear ambient capabilities", what);
	}
	for (int n = 0; n < 64; n++) {
		if (!(amb & (1ULL << n)))
			continue;
		// Raised only if also permitted and inheritable; runc and crun warn and go on.
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, 0, 0) < 0 && errno != EPERM)
			die("%s: raise ambient capability %d", what, n);
	}
}

static void op_seccomp(uint64_t flags, const struct arg *filter, int notify, const char *what)
{
	struct sock_fprog prog = {
		.len = filter->len / sizeof(struct sock_filter),
		.filter = (struct sock_filter *)filter->p,
	};
	long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (fd < 0)
		die("%s", what);
	if (!notify)
		return;
	static const char m[] = "{\"type\":\"seccompFd\"}";
	send_packet(m, sizeof(m) - 1, fd);
	close(fd);
	char ack[256];
	ssize_t n;
	do {
		n = recv(sync_fd, ack, sizeof(ack) - 1, 0);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		die_err(EPIPE, "%s: wait for the parent", what);
	ack[n] = '\0';
	if (!strstr(ack, "\"seccompDone\""))
		die_err(EPROTO, "%s: unexpected reply %s", what, ack);
}

#define DEVPTS_SUPER_MAGIC_ 0x1cd1

static int is_devpts_chr(int fd)
{
	struct statfs sf;
	struct stat st;
	return fstatfs(fd, &sf) == 0 && sf.f_type == DEVPTS_SUPER_MAGIC_ && fstat(fd, &st) == 0 && S_ISCHR(st.st_mode);
}

// op_console creates the container's pty from its own devpts, checks it really is a devpts pty
// (CVE-2025-52565), hands the master to the console socket and makes the peer our stdio,
// controlling terminal and /dev/console.
static void op_console(int sock, int rows, int cols, const char *what)
{
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		die("%s: open /dev/ptmx", what);
	if (!is_devpts_chr(master))
		die_err(0, "%s: /dev/ptmx: not on a devpts filesystem", what);
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		die("%s: unlock pty", what);
	// TIOCGPTPEER opens the peer without a path lookup, so no symlink can stand in for it.
	int peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (peer < 0)
		die("%s: open pty peer", what);
	if (!is_devpts_chr(peer))
		die_err(0, "%s: pty peer: not on a devpts filesystem", what);
	if (rows || cols) {
		struct winsize ws = {.ws_row = rows, .ws_col = cols};
		if (ioctl(master, TIOCSWINSZ, &ws) < 0)
			die("process.consoleSize");
	}
	int n;
	if (ioctl(master, TIOCGPTN, &n) < 0)
		die("%s: TIOCGPTN", what);
	char name[32];
	int len = snprintf(name, sizeof(name), "/dev/pts/%d", n);
	int saved = sync_fd;
	sync_fd = sock;
	send_packet(name, len, master);
	sync_fd = saved;
	// /dev/console: a plain file created if missing (an existing symlink is replaced), with
	// the peer bind mounted over it; no /dev at all is fine.
	struct stat st;
	if (lstat("/dev/console", &st) == 0 && !S_ISREG(st.st_mode) && unlink("/dev/console") < 0)
		die("%s: unlink /dev/console", what);
	int con = open("/dev/console", O_CREAT | O_NOFOLLOW | O_RDONLY | O_CLOEXEC, 0600);
	if (con < 0 && errno != ENOENT)
		die("%s: create /dev/console", what);
	if (con >= 0) {
		char b1[32], b2[32];
		if (do_mount(fdpath(peer, b1), fdpath(con, b2), "", MS_BIND, NULL) < 0)
			die("%s: bind mount console on /dev/console", what);
		close(con);
	}
	if (setsid() < 0)
		die("%s: setsid", what);
	if (ioctl(peer, TIOCSCTTY, 0) < 0)
		die("%s: set controlling terminal", what);
	for (int fd = 0; fd < 3; fd++)
		if (dup3(peer, fd, 0) < 0)
			die("%s: dup3", what);
	close(peer);
	close(master);
	close(sock);
}

// reset_signals gives the process the default action for every signal that whoever ran husk
// ignored (nohup, trap ""), and an empty signal mask. The raw system call: glibc's sigaction
// refuses the two real-time signals it reserves (32, 33), which may be ignored too.
static void reset_signals(void)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} old, dfl = {0};
	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof(uint64_t)) == 0 && old.handler == (void *)SIG_IGN)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t));
	}
	uint64_t none = 0;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
}

static void op_exec(struct arg *a, int n)
{
	// what, argc, args..., envc, env...
	static char *argv[4096], *envp[8192];
	int argc = num(&a[1]);
	if (argc <= 0 || argc >= 4096 || 2 + argc >= n)
		die_err(EINVAL, "plan: bad exec op");
	for (int i = 0; i < argc; i++)
		argv[i] = (char *)str(&a[2 + i]);
	argv[argc] = NULL;
	int envc = num(&a[2 + argc]);
	if (envc < 0 || envc >= 8190)
		die_err(EINVAL, "plan: bad exec op");
	int k = 0;
	for (int i = 0; i < envc; i++)
		envp[k++] = (char *)str(&a[3 + argc + i]);
	if (home_env[0])
		envp[k++] = home_env;
	envp[k] = NULL;
	reset_signals();
	execve(exe_path[0] ? exe_path : argv[0], argv, envp);
	die("exec %s", argv[0]);
}

// --- the interpreter ---

static struct arg *args_of(const char **pp, const char *end, uint32_t *op, int *nargs, struct arg *a, int max)
{
	const char *p = *pp;
	uint32_t hdr[2];
	if (end - p < 8)
		return NULL;
	memcpy(hdr, p, 8);
	p += 8;
	*op = hdr[0];
	if ((int)hdr[1] > max)
		return NULL;
	for (uint32_t i = 0; i < hdr[1]; i++) {
		if (end - p < 4)
			return NULL;
		memcpy(&a[i].len, p, 4);
		p += 4;
		if ((uint64_t)(end - p) < a[i].len)
			return NULL;
		a[i].p = p;
		p += a[i].len;
	}
	*nargs = hdr[1];
	*pp = p;
	return a;
}

static void __attribute__((noreturn)) run(const char *p, const char *end)
{
	static struct arg bigargs[16384];
	char b1[32], b2[32];
	while (p < end) {
		uint32_t op;
		int n;
		struct arg *a = args_of(&p, end, &op, &n, bigargs, 16384);
		if (!a)
			die_err(EINVAL, "plan: truncated op");
		const char *what = n > 0 ? str(&a[0]) : "plan";
		errno = 0;
		switch (op) {
		case OP_OPEN: { // what, path, flags, slot
			int fd = open(str(&a[1]), num(&a[2]) | O_CLOEXEC);
			if (fd < 0)
				die("%s", what);
			set_slot(&a[3], fd);
			break;
		}
		case OP_OPEN_IN_ROOT: { // what, root, path, slot
			int fd = open_in_root(slot(&a[1]), str(&a[2]));
			if (fd < 0)
				die("%s", what);
			set_slot(&a[3], fd);
			break;
		}
		case OP_MKDIR_IN_ROOT: { // what, root, path, slot
			int fd = mkdir_in_root(slot(&a[1]), str(&a[2]), 0755);
			if (fd < 0)
				die("%s: create mount point inside the rootfs", what);
			set_slot(&a[3], fd);
			break;
		}
		case OP_MKFILE_IN_ROOT: { // what, root, path, slot
			int fd = mkfile_in_root(slot(&a[1]), str(&a[2]));
			if (fd < 0)
				die("%s: create mount point inside the rootfs", what);
			set_slot(&a[3], fd);
			break;
		}
		case OP_CLOSE:
			set_slot(&a[1], -1);
			break;
		case OP_CHECK_DIR: { // what, slot
			struct stat st;
			if (fstat(slot(&a[1]), &st) < 0)
				die("%s: fstat", what);
			if (!S_ISDIR(st.st_mode))
				die_err(0, "%s: mount point is not a directory", what);
			break;
		}
		case OP_MOUNT: { // what, src, srcslot, target, targetslot, fstype, flags, data
			const char *src = str(&a[1]), *target = str(&a[3]);
			if (num(&a[2]) >= 0)
				src = fdpath(slot(&a[2]), b1);
			if (num(&a[4]) >= 0)
				target = fdpath(slot(&a[4]), b2);
			if (do_mount(src, target, str(&a[5]), num(&a[6]), str(&a[7])) < 0)
				die("%s", what);
			break;
		}
		case OP_REMOUNT_BIND: { // what, slot, path, flags
			const char *path = num(&a[1]) >= 0 ? fdpath(slot(&a[1]), b1) : str(&a[2]);
			if (remount_bind(path, num(&a[3])) < 0)
				die("%s", what);
			break;
		}
		case OP_SETATTR: { // what, slot, set, clr
			struct mount_attr_ attr = {.attr_set = num(&a[2]), .attr_clr = num(&a[3])};
			if (syscall(SYS_mount_setattr, slot(&a[1]), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
				die("%s", what);
			break;
		}
		case OP_SYMLINK: { // what, dirslot, target, name, replace
			int d = slot(&a[1]);
			if (num(&a[4]))
				unlinkat(d, str(&a[3]), 0);
			if (symlinkat(str(&a[2]), d, str(&a[3])) < 0 && errno != EEXIST)
				die("%s", what);
			break;
		}
		case OP_MKNOD: // what, root, path, mode, dev, uid, gid
			op_mknod(slot(&a[1]), str(&a[2]), num(&a[3]), num(&a[4]), num(&a[5]), num(&a[6]), what);
			break;
		case OP_MASK:
			op_mask(slot(&a[1]), str(&a[2]), what);
			break;
		case OP_READONLY:
			op_readonly(slot(&a[1]), str(&a[2]), what);
			break;
		case OP_PIVOT:
			op_pivot(str(&a[1]), what);
			break;
		case OP_NOPIVOT:
			op_nopivot(str(&a[1]), what);
			break;
		case OP_CHROOT:
			if (chroot(str(&a[1])) < 0 || chdir("/") < 0)
				die("%s", what);
			break;
		case OP_SYSCALL:
			op_syscall(a, n);
			break;
		case OP_WRITE_PROC: // what, rel, alt, data
			op_write_proc(str(&a[1]), str(&a[2]), str(&a[3]), what);
			break;
		case OP_CHDIR:
			op_chdir(str(&a[1]), what);
			break;
		case OP_LOOKPATH:
			op_lookpath(str(&a[1]), str(&a[2]), what);
			break;
		case OP_HOME:
			op_home(num(&a[1]));
			break;
		case OP_CHOWN_STDIO:
			op_chown_stdio(num(&a[1]), num(&a[2]), what);
			break;
		case OP_CLOSE_RANGE:
			if (syscall(SYS_close_range, (unsigned)num(&a[1]), ~0U, CLOSE_RANGE_CLOEXEC) < 0)
				die("%s", what);
			break;
		case OP_SEND: // what, bytes
			send_packet(a[1].p, a[1].len, -1);
			break;
		case OP_EXPECT: { // what, substring
			char buf[256];
			ssize_t r;
			do {
				r = recv(sync_fd, buf, sizeof(buf) - 1, 0);
			} while (r < 0 && errno == EINTR);
			if (r <= 0)
				die_err(EPIPE, "%s: wait for the parent", what);
			buf[r] = '\0';
			if (!strstr(buf, str(&a[1])))
				die_err(EPROTO, "%s: unexpected message %s", what, buf);
			break;
		}
		case OP_READY: {
			static const char m[] = "{\"type\":\"ready\"}";
			send_packet(m, sizeof(m) - 1, -1);
			ready_sent = 1;
			break;
		}
		case OP_WAIT_START: { // what, selfslot, fdnum
			// Opening a FIFO for writing blocks until `husk start` opens it for reading. The
			// fd stays open (close-on-exec): start reads end of file once execve succeeded.
			char name[16];
			snprintf(name, sizeof(name), "%d", (int)num(&a[2]));
			int fifo;
			do {
				fifo = openat(slot(&a[1]), name, O_WRONLY | O_CLOEXEC);
			} while (fifo < 0 && errno == EINTR);
			if (fifo < 0)
				die("%s: open exec fifo", what);
			if (write(fifo, "", 1) != 1)
				die("%s: write exec fifo", what);
			close(num(&a[2]));
			break;
		}
		case OP_DROP_BOUNDING: // what, keep, last
			op_drop_bounding(num(&a[1]), num(&a[2]), what);
			break;
		case OP_CAPSET: // what, eff, perm, inh, amb
			op_capset(num(&a[1]), num(&a[2]), num(&a[3]), num(&a[4]), what);
			break;
		case OP_SECCOMP: // what, flags, filter, notify
			op_seccomp(num(&a[1]), &a[2], num(&a[3]), what);
			break;
		case OP_CONSOLE: // what, socket fd, rows, cols
			op_console(num(&a[1]), num(&a[2]), num(&a[3]), what);
			break;
		case OP_EXEC:
			op_exec(a, n);
			break;
		default:
			die_err(EINVAL, "plan: unknown op %u", op);
		}
	}
	die_err(EINVAL, "plan: ended without exec");
}

void husk_cinit(int fd)
{
	sync_fd = fd;
	for (int i = 0; i < NSLOTS; i++)
		slots[i] = -1;
	// The plan arrives in a memfd: mapped, not copied, so it is not charged to the container's
	// memory cgroup, which we are in already.
	char hdr[16];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = hdr, .iov_len = sizeof(hdr)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t n;
	do {
		n = recvmsg(sync_fd, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		_exit(255); // the parent is gone
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int mfd = -1;
	if (c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&mfd, CMSG_DATA(c), sizeof(int));
	if (n != 4 || memcmp(hdr, "plan", 4) != 0 || mfd < 0)
		die_err(EPROTO, "plan: expected a plan message");
	struct stat st;
	if (fstat(mfd, &st) < 0)
		die("plan: fstat");
	void *p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, mfd, 0);
	if (p == MAP_FAILED)
		die("plan: mmap");
	close(mfd);
	run(p, (const char *)p + st.st_size);
}
