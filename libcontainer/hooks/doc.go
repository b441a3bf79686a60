// Package hooks runs OCI lifecycle hooks (runtime-spec config.md, "POSIX-platform
// Hooks"): each hook is executed with exactly its path, args and env, gets the
// container state as JSON on stdin, and is killed when its timeout expires.
//
// The package only runs processes in the caller's namespaces; choosing the
// namespace (runtime or container) and the moment in the lifecycle is the
// caller's job.
package hooks
