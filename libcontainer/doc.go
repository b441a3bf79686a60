// Package libcontainer runs OCI containers: Create and Load give a Container kept in a state
// directory, whose methods start, signal, exec into and destroy it.
//
// Files named init_*.go run inside the container, in `husk init` (see Init); every other file
// runs in the parent husk process. docs/architecture.md draws the process model and
// internal/initsync the protocol between the two.
package libcontainer
