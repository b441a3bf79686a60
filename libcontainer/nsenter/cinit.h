// Op codes of the C init's plan; libcontainer/initplan/ops.go must match.
#ifndef HUSK_CINIT_H
#define HUSK_CINIT_H

enum {
	OP_OPEN = 1,
	OP_OPEN_IN_ROOT,
	OP_MKDIR_IN_ROOT,
	OP_MKFILE_IN_ROOT,
	OP_CLOSE,
	OP_CHECK_DIR,
	OP_MOUNT,
	OP_REMOUNT_BIND,
	OP_SETATTR,
	OP_SYMLINK,
	OP_MKNOD,
	OP_MASK,
	OP_READONLY,
	OP_PIVOT,
	OP_NOPIVOT,
	OP_CHROOT,
	OP_SYSCALL,
	OP_WRITE_PROC,
	OP_CHDIR,
	OP_LOOKPATH,
	OP_HOME,
	OP_CHOWN_STDIO,
	OP_CLOSE_RANGE,
	OP_SEND,
	OP_EXPECT,
	OP_READY,
	OP_WAIT_START,
	OP_DROP_BOUNDING,
	OP_CAPSET,
	OP_SECCOMP,
	OP_EXEC,
	OP_CONSOLE,
};

// husk_cinit receives the plan on the sync socket and runs it; it never returns.
void husk_cinit(int sync_fd) __attribute__((noreturn));

#endif
