// Package httperr writes the gateway's JSON error bodies. Every error that
// reaches a browser, whether from routing, auth, a cap or a backend, has the
// same shape: {"code": "NOT_FOUND", "message": "job not found"}, where code is
// the gRPC code's name. Messages must hold nothing internal.
package httperr

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Body is the JSON error body.
type Body struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Write sends a JSON error with the HTTP status that grpc-gateway maps code to.
func Write(w http.ResponseWriter, code codes.Code, message string) {
	WriteStatus(w, runtime.HTTPStatusFromCode(code), code, message)
}

// WriteStatus sends a JSON error with an explicit HTTP status. Go's
// number-parsing text (`strconv.ParseUint: parsing "x": `) is taken out
// of message, and a JSON decoder's message is said in the gateway's own
// words (see decoderMessage): they say how the gateway is built, not what
// was wrong.
func WriteStatus(w http.ResponseWriter, httpStatus int, code codes.Code, message string) {
	message = goParserText.ReplaceAllString(message, "")
	if code == codes.InvalidArgument {
		message = decoderMessage(message)
	}
	b, _ := json.Marshal(Body{Code: CodeName(code), Message: message}) // cannot fail: two strings
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(append(b, '\n'))
}

// goParserText matches the prefix strconv puts on its errors, which
// grpc-gateway's binding passes on in its messages.
var goParserText = regexp.MustCompile(`strconv\.\w+: parsing "(?:[^"\\]|\\.)*": `)

// WriteRetry sends a JSON error with a Retry-After header, for caps.
func WriteRetry(w http.ResponseWriter, httpStatus int, code codes.Code, message string, after time.Duration) {
	secs := int(after.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	WriteStatus(w, httpStatus, code, message)
}

// FromError sends err, a gRPC status error or any other error, as JSON.
// Errors that are not gRPC statuses become INTERNAL with a generic message,
// so nothing internal leaks.
func FromError(w http.ResponseWriter, err error) {
	s, ok := status.FromError(err)
	if !ok {
		Write(w, codes.Internal, "internal error")
		return
	}
	FromStatus(w, runtime.HTTPStatusFromCode(s.Code()), s)
}

// FromStatus sends s as JSON with httpStatus, and a Retry-After header
// when s carries a google.rpc.RetryInfo detail (a backend that limits a
// client says when to come back, as the auth service does for sign-ins).
func FromStatus(w http.ResponseWriter, httpStatus int, s *status.Status) {
	for _, d := range s.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			WriteRetry(w, httpStatus, s.Code(), Message(s), ri.GetRetryDelay().AsDuration())
			return
		}
	}
	WriteStatus(w, httpStatus, s.Code(), Message(s))
}

// CodeName returns the canonical name of code, such as "NOT_FOUND".
func CodeName(code codes.Code) string {
	if name, ok := rpccode.Code_name[int32(code)]; ok {
		return name
	}
	return rpccode.Code_UNKNOWN.String()
}

// Message returns the message of s that is safe to show a browser: the
// backend's own message for codes that describe the request, a generic text
// for codes that describe the server.
func Message(s *status.Status) string {
	switch s.Code() {
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return "internal error"
	case codes.Unavailable:
		return "service unavailable"
	}
	if s.Message() == "" {
		return s.Code().String()
	}
	return s.Message()
}
