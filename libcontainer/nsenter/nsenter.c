// The bootstrap half of `husk init`; see nsenter.go and libcontainer/internal/initsync.
//
// Bootstrap message (one SOCK_SEQPACKET packet from the parent), lines of:
//   cgroup <path>             write "0" to this file (join the cgroup; single-threaded fast path)
//   join <type> <path>        setns(2) into this namespace (type: user mnt pid net ipc uts cgroup time)
//   clone <flags>             unshare(2) these CLONE_NEW* flags (decimal)
//   timens <clock> <s> <ns>   a line for /proc/self/timens_offsets after unshare(CLONE_NEWTIME)
//   plan                      the C init follows (cinit.c): the Go runtime never starts
// Replies (one packet each): "usermap" (after unshare(CLONE_NEWUSER); the parent writes the maps
// and answers "ok"), "pid <n>" (the process that goes on; 0: the one the parent started), or
// "error <text>".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "cinit.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

#define MAX_MSG 65536
#define MAX_JOIN 16

static int sync_fd = -1;

static void send_msg(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	while (send(sync_fd, buf, n, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

static void fail(const char *fmt, ...)
{
	char buf[900];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	send_msg("error %s: %s", buf, strerror(saved));
	_exit(1);
}

static int ns_flag(const char *type)
{
	static const struct { const char *name; int flag; } types[] = {
		{"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS}, {"pid", CLONE_NEWPID},
		{"net", CLONE_NEWNET}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
		{"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME},
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(types[i].name, type) == 0)
			return types[i].flag;
	return 0;
}

static void write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open %s", path);
	size_t len = strlen(data);
	if (write(fd, data, len) != (ssize_t)len)
		fail("write %s to %s", data, path);
	close(fd);
}

void husk_nsenter(void)
{
	const char *env = getenv("_HUSK_SYNCFD");
	if (env == NULL || *env == '\0')
		return;
	sync_fd = atoi(env);

	// Nothing in the container may open our /proc/<pid>/exe (CVE-2019-5736); the Go side turns
	// this back on only where a user namespace needs it.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fail("prctl PR_SET_DUMPABLE");

	static char msg[MAX_MSG + 1];
	ssize_t n;
	do {
		n = recv(sync_fd, msg, MAX_MSG, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		fail("read bootstrap message");
	msg[n] = '\0';

	int join_fd[MAX_JOIN], join_type[MAX_JOIN], njoin = 0;
	int clone_flags = 0, plan = 0;
	char timens[1024] = "";
	size_t timens_len = 0;

	for (char *save = NULL, *line = strtok_r(msg, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "cgroup ", 7) == 0) {
			write_file(line + 7, "0");
		} else if (strncmp(line, "join ", 5) == 0) {
			char *type = line + 5, *path = strchr(type, ' ');
			if (path == NULL || njoin == MAX_JOIN) {
				errno = EINVAL;
				fail("bad join line %s", line);
			}
			*path++ = '\0';
			int flag = ns_flag(type);
			if (flag == 0) {
				errno = EINVAL;
				fail("unknown namespace type %s", type);
			}
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				fail("open %s namespace %s", type, path);
			join_fd[njoin] = fd;
			join_type[njoin++] = flag;
		} else if (strncmp(line, "clone ", 6) == 0) {
			clone_flags = atoi(line + 6);
		} else if (strcmp(line, "plan") == 0) {
			plan = 1;
		} else if (strncmp(line, "timens ", 7) == 0) {
			int w = snprintf(timens + timens_len, sizeof(timens) - timens_len, "%s\n", line + 7);
			if (w > 0 && (size_t)w < sizeof(timens) - timens_len)
				timens_len += w;
		}
	}

	// A joined user namespace comes first: it grants the capabilities needed to join the
	// namespaces it owns.
	for (int i = 0; i < njoin; i++)
		if (join_type[i] == CLONE_NEWUSER && setns(join_fd[i], CLONE_NEWUSER) < 0)
			fail("setns user namespace");
	int fork_needed = 0;
	for (int i = 0; i < njoin; i++) {
		if (join_type[i] != CLONE_NEWUSER && setns(join_fd[i], join_type[i]) < 0)
			fail("setns namespace type %#x", join_type[i]);
		if (join_type[i] == CLONE_NEWPID || join_type[i] == CLONE_NEWTIME)
			fork_needed = 1;
		close(join_fd[i]);
	}

	if (clone_flags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			fail("unshare user namespace");
		send_msg("usermap");
		char ack[16];
		do {
			n = recv(sync_fd, ack, sizeof(ack) - 1, 0);
		} while (n < 0 && errno == EINTR);
		if (n != 2 || memcmp(ack, "ok", 2) != 0) {
			errno = EPROTO;
			fail("wait for uid/gid mappings");
		}
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			fail("become root in the user namespace");
	}
	int rest = clone_flags & ~CLONE_NEWUSER;
	if (rest && unshare(rest) < 0)
		fail("unshare namespaces %#x", rest);
	if (rest & CLONE_NEWTIME && timens_len > 0)
		write_file("/proc/self/timens_offsets", timens);
	if (rest & (CLONE_NEWPID | CLONE_NEWTIME))
		fork_needed = 1;

	if (!fork_needed) {
		// "pid 0": the process the parent started. getpid() would be 1 when the parent's
		// clone made a pid namespace for it.
		send_msg("pid 0");
		if (plan)
			husk_cinit(sync_fd);
		return;
	}
	// CLONE_PARENT makes the child a sibling of ours: the parent husk can wait(2) for it, and
	// it is reparented to the caller's subreaper when the parent exits, like a plain child.
	pid_t child = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
	if (child < 0)
		fail("clone into the new pid namespace");
	if (child > 0) {
		send_msg("pid %d", child);
		_exit(0);
	}
	if (plan)
		husk_cinit(sync_fd);
}
