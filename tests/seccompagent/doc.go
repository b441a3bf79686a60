// Command seccompagent is a minimal seccomp agent for tests: it listens on a
// unix stream socket for the runtime-spec container process state and the
// seccomp listener fd (linux.seccomp.listenerPath, SCM_RIGHTS), then answers
// every notified syscall with a fixed result without running it.
//
// Usage:
//
//	seccompagent -socket PATH [-errno N]
//
// With -errno 0 (the default) each notified syscall "succeeds" with return
// value 0; otherwise it fails with errno N. For every connection the agent
// prints one JSON line {"event":"state",...} with the state it received and
// for every notification one line {"event":"notify","pid":...,"nr":...}, so
// that tests can check both. It prints {"event":"ready"} once listening and
// runs until killed.
//
// It is test tooling, not a product: it handles any number of connections
// and listeners, one goroutine each, and never exits on its own.
package main
