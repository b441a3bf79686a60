// Package spec reads and writes a bundle's config.json: the default configuration that
// `husk spec` writes, its rootless variant, and loading with errors that say where the JSON
// is wrong and which field is at fault.
package spec
