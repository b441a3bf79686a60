// Package validate checks a runtime-spec config.json before husk acts on it, so that bad
// input fails early, with an error naming the field, and before anything is created. It only
// reads: no syscalls beyond stat of the rootfs.
package validate
