package httperr_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ssegate/ssegate/gateway/httperr"
)

func TestBodies(t *testing.T) {
	t.Parallel()
	limited, _ := status.New(codes.ResourceExhausted, "too many failed sign-ins").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(4 * time.Second)})
	tests := []struct {
		name       string
		err        error
		status     int
		body       string
		retryAfter string
	}{
		{"backend message kept", status.Error(codes.NotFound, "job not found"), 404, `{"code":"NOT_FOUND","message":"job not found"}`, ""},
		{"internal detail hidden", status.Error(codes.Internal, "db at 10.0.0.1 down"), 500, `{"code":"INTERNAL","message":"internal error"}`, ""},
		{"not a status", errTest, 500, `{"code":"INTERNAL","message":"internal error"}`, ""},
		{"Go parser text dropped", status.Error(codes.InvalidArgument, `type mismatch, parameter: id, error: strconv.ParseUint: parsing "x\"y": invalid syntax`),
			400, `{"code":"INVALID_ARGUMENT","message":"type mismatch, parameter: id, error: invalid syntax"}`, ""},
		{"retry info becomes Retry-After", limited.Err(), 429, `{"code":"RESOURCE_EXHAUSTED","message":"too many failed sign-ins"}`, "4"},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		httperr.FromError(w, tt.err)
		if w.Code != tt.status || w.Body.String() != tt.body+"\n" || w.Header().Get("Retry-After") != tt.retryAfter {
			t.Errorf("%s: %d %q Retry-After %q", tt.name, w.Code, w.Body.String(), w.Header().Get("Retry-After"))
		}
		if w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", tt.name, w.Header())
		}
	}
}

type testError struct{}

func (testError) Error() string { return "sql: connection refused at 10.0.0.1" }

var errTest = testError{}
