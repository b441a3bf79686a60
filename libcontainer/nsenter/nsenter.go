// Package nsenter holds husk's C: a constructor that runs in `husk init` before the Go
// runtime starts any thread. A process with several threads cannot join a mount or user
// namespace (setns(2): EINVAL), and the cheapest cgroup v1 attach is a single-threaded process
// writing "0" to "tasks". So the constructor, guided by a bootstrap message from the parent,
// joins the cgroup, joins and creates namespaces and, when a pid or time namespace applies,
// forks once so that the Go runtime starts inside it.
//
// When the bootstrap message says so ("plan"), the process does not go on into Go at all:
// cinit.c receives a plan compiled by the parent (libcontainer/initplan), sets up the container
// and execs its process, so that no Go runtime runs, or is charged, inside the container.
//
// The constructor acts only when the environment names the sync socket (EnvSyncFD); in every
// other husk command it returns at once. Import this package for its side effect from the
// binary's init hook only.
package nsenter

/*
#cgo CFLAGS: -Wall -Werror -O2
extern void husk_nsenter(void);
void __attribute__((constructor)) husk_nsenter_ctor(void) { husk_nsenter(); }
*/
import "C"

// EnvSyncFD names the environment variable holding the sync socket's fd number in `husk init`.
const EnvSyncFD = "_HUSK_SYNCFD"
