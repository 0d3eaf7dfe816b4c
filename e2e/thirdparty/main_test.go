// Package thirdparty_test puts the real ssegate binary in front of gRPC
// services this repository did not write and whose Go code the binary does
// not link: grpc-go's own health service, found by server reflection, and
// acme.greeter.v1.GreeterService, a .proto in testdata compiled with the
// pinned buf and served by handlers of dynamic messages. It checks their
// REST and SSE routes, the documents made from their descriptors, a reload
// on SIGHUP that keeps open streams, and the README's section "Put ssegate
// in front of your services", run as written.
package thirdparty_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every gRPC server, connection and HTTP client a test opens is closed by
// the end of the test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
