// Package requestid gives every HTTP request an id: in the response's
// X-Request-Id header, in the request context (so logs written with it
// carry the id), and in the gRPC metadata of upstream calls, so a stream
// can be followed from the browser through the gateway to its backend.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"
)

const (
	// Header is the response header that carries the id.
	Header = "X-Request-Id"
	// MetadataKey is the gRPC metadata key that carries the id to backends.
	MetadataKey = "x-request-id"
	// LogKey is the attribute name of the id in logs.
	LogKey = "request_id"
)

type ctxKey struct{}

// New returns a fresh random id of 24 hex digits.
func New() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// NewContext returns a copy of ctx that carries id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the id ctx carries, or "".
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Handler gives each request a new id, in its context and in the response
// header, before next runs. An id the client sent is not trusted: it could
// collide with another request's on purpose. Client-sent spellings that
// grpc-gateway would forward as metadata are dropped, so backends see the
// gateway's id only.
func Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := New()
		w.Header().Set(Header, id)
		for k := range r.Header {
			switch strings.ToLower(k) {
			case "x-request-id", runtime.MetadataHeaderPrefix + "x-request-id", "grpc-metadata-x-request-id":
				r.Header.Del(k)
			}
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
	})
}

// Metadata is a runtime.WithMetadata annotator: the request's id as
// x-request-id on the upstream call.
func Metadata(_ context.Context, r *http.Request) metadata.MD {
	if id := FromContext(r.Context()); id != "" {
		return metadata.Pairs(MetadataKey, id)
	}
	return nil
}

// LogHandler wraps h so that records logged with a context that carries an
// id (slog's …Context methods) get it as request_id.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := FromContext(ctx); id != "" {
		rec.AddAttrs(slog.String(LogKey, id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(attrs)}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name)}
}
