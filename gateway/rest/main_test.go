package rest_test

import (
	"io"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc/grpclog"
)

//go:generate bash testdata/generate.sh

func TestMain(m *testing.M) {
	// The runtime logs the bad requests the tables send on purpose.
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
	goleak.VerifyTestMain(m)
}
