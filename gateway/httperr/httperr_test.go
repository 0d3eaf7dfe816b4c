package httperr_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
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
		{"protojson: a bad value", status.Error(codes.InvalidArgument, `proto: (line 1:10): invalid value for uint32 field limit: "<b>abc"`),
			400, `{"code":"INVALID_ARGUMENT","message":"request body: field limit: not a valid uint32"}`, ""},
		{"protojson: a bad value, the prefix's space U+00A0", status.Error(codes.InvalidArgument, "proto:\u00a0(line 1:10): invalid value for uint32 field limit: 1.5"),
			400, `{"code":"INVALID_ARGUMENT","message":"request body: field limit: not a valid uint32"}`, ""},
		{"protojson: an enum", status.Error(codes.InvalidArgument, `proto: (line 1:9): invalid value for enum field kind: "X"`),
			400, `{"code":"INVALID_ARGUMENT","message":"request body: field kind: not a valid enum"}`, ""},
		{"protojson: a duplicate", status.Error(codes.InvalidArgument, `proto: (line 1:15): duplicate field "limit"`),
			400, `{"code":"INVALID_ARGUMENT","message":"request body: duplicate field limit"}`, ""},
		{"protojson: an unknown field", status.Error(codes.InvalidArgument, `proto: (line 1:2): unknown field "nope"`),
			400, `{"code":"INVALID_ARGUMENT","message":"request body: unknown field nope"}`, ""},
		{"protojson: a syntax error", status.Error(codes.InvalidArgument, `proto: syntax error (line 1:1): unexpected token [`),
			400, `{"code":"INVALID_ARGUMENT","message":"request body is not valid JSON"}`, ""},
		{"protojson: anything else", status.Error(codes.InvalidArgument, `proto: (line 1:3): something new`),
			400, `{"code":"INVALID_ARGUMENT","message":"request body is not valid"}`, ""},
		{"encoding/json: not JSON", status.Error(codes.InvalidArgument, `invalid character 'x' looking for beginning of value`),
			400, `{"code":"INVALID_ARGUMENT","message":"request body is not valid JSON"}`, ""},
		{"encoding/json: cut short", status.Error(codes.InvalidArgument, `unexpected EOF`),
			400, `{"code":"INVALID_ARGUMENT","message":"request body is not valid JSON"}`, ""},
		{"encoding/json: a type", status.Error(codes.InvalidArgument, `json: cannot unmarshal string into Go value of type uint32`),
			400, `{"code":"INVALID_ARGUMENT","message":"request body: string given, uint32 expected"}`, ""},
		{"encoding/json: a struct field", status.Error(codes.InvalidArgument, `json: cannot unmarshal number into Go struct field Req.name of type []*jobsv1.Tag`),
			400, `{"code":"INVALID_ARGUMENT","message":"request body: number given, Tag expected"}`, ""},
		{"a backend's own message kept", status.Error(codes.InvalidArgument, `proto files are not accepted: invalid character in name`),
			400, `{"code":"INVALID_ARGUMENT","message":"proto files are not accepted: invalid character in name"}`, ""},
		{"other codes untouched", status.Error(codes.NotFound, `unexpected EOF`), 404, `{"code":"NOT_FOUND","message":"unexpected EOF"}`, ""},
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

// Whatever a backend or decoder says, the body is one JSON error whose
// message holds no protojson prefix.
func FuzzBodies(f *testing.F) {
	for _, s := range []string{`proto: (line 1:10): invalid value for uint32 field limit: "abc"`, `unexpected EOF`,
		`json: cannot unmarshal string into Go value of type uint32`, `strconv.ParseUint: parsing "x": invalid syntax`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, message string) {
		w := httptest.NewRecorder()
		httperr.FromError(w, status.Error(codes.InvalidArgument, message))
		var body httperr.Body
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Code != "INVALID_ARGUMENT" {
			t.Fatalf("body %q: %v", w.Body.String(), err)
		}
		if strings.HasPrefix(body.Message, "proto: (line") || strings.HasPrefix(body.Message, "proto:\u00a0(line") {
			t.Fatalf("message %q keeps the decoder's prefix", body.Message)
		}
	})
}
