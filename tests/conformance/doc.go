// Command conformance runs the OCI runtime-tools validation suite
// (github.com/opencontainers/runtime-tools v0.9.0, validation/*) against a
// runtime binary and reports the results.
//
// It has two subcommands. "conformance run" drives the whole suite: it hands
// the validation programs to prove(1), whose --exec hook calls back into
// "conformance exec" for each program, then prints a per-program table and
// the final "N passed, N failed" line, and decides the exit status from
// known-failures.txt and baseline.txt. "conformance exec" runs one program
// with a timeout, in a private mount namespace, as a child subreaper, with the
// runtime wrapped so that its state lives in a private --root; afterwards it
// deletes the containers, kills the orphans, removes the cgroups and temporary
// directories the program left, and prints normalised TAP on stdout.
//
// See README.md for the counting rules and the cleanup guarantees.
package main
