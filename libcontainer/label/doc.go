// Package label applies SELinux labels for a container: the process label
// the kernel gives the next execve (process.selinuxLabel), the label of the
// session keyring the init creates, and the context= mount option for
// linux.mountLabel. It is a thin layer over
// github.com/opencontainers/selinux, whose /proc writes already go through
// verified procfs handles.
//
// With SELinux disabled on the host, husk behaves like runc: an empty label
// is a no-op, a mount label is silently left out of the mount options, and a
// non-empty process label is an error (runc rejects it when validating the
// config: "selinux label is specified in config, but selinux is disabled or
// not supported"), since running the process unlabeled would quietly drop
// the confinement the config asked for.
package label
