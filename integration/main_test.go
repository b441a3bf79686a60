// Package integration runs the husk binary (or any runc-compatible runtime named by
// $HUSK_RUNTIME) as root against real bundles, checking the effect of each feature from
// inside the container (through /probe) and from the host.
package integration

import (
	"os"
	"testing"

	"github.com/husk-runtime/husk/tests/testutil"
)

func TestMain(m *testing.M) {
	os.Exit(testutil.Setup(m))
}
