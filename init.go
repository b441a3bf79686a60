package main

import (
	"os"

	"github.com/husk-runtime/husk/libcontainer"
	// The C constructor that joins namespaces before the Go runtime starts.
	_ "github.com/husk-runtime/husk/libcontainer/nsenter"
)

func init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		// This is the Go entry point of `husk init`, run before main() and after the nsenter
		// constructor has joined the container's namespaces and cgroup.
		libcontainer.Init()
	}
}
