// Package criu drives CRIU (https://criu.org) through its RPC service: `criu swrk <fd>`
// reads protobuf requests (github.com/checkpoint-restore/go-criu/v7/rpc) from a
// SOCK_SEQPACKET socket, answers them, and stops at each action script for the caller to
// act (network lock, namespace setup, the restored pid) before it goes on.
//
// It knows nothing of containers: libcontainer's checkpoint.go and restore.go build the
// options. It runs in the parent (husk checkpoint, husk restore), never in an init.
package criu
