// Package tap parses the TAP version 13 streams written by the runtime-tools
// validation programs and rewrites them into one well-formed stream: test
// points renumbered, a single plan at the end, and synthetic failures for the
// ways those programs report errors outside of test points.
package tap
