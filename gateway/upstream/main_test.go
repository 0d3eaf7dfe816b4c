package upstream_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every connection, server and reflection stream a test opens is closed
// by the end of the test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
