package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"

	"github.com/ssegate/ssegate/gateway/httperr"
)

// maxGETBody bounds the body a GET may carry before the gateway gives up on
// the request.
const maxGETBody = 64 << 10

// watchUnwantedBody handles a GET that announces a body (say,
// Transfer-Encoding: chunked) that it may never send. Two net/http behaviours
// would hurt: an HTTP/1.1 server reads an unread body before writing the
// response header, stalling the stream, and it notices a client that went
// away only once the body has been read to its end. So the body is read
// here, beside the response (full duplex), and the request is cancelled if
// the client disconnects or sends more than maxGETBody. Call done before the
// handler returns: it stops the reader first, since net/http reads what is
// left of a body after the handler, and two readers of one body panic.
func watchUnwantedBody(w http.ResponseWriter, r *http.Request) (_ *http.Request, done func()) {
	rc := http.NewResponseController(w)
	// HTTP/2 needs none of this and answers ErrNotSupported.
	_ = rc.EnableFullDuplex()
	if r.ProtoMajor == 1 {
		// What is left of such a body after the response would be read
		// as the next request: this connection serves no other.
		w.Header().Set("Connection", "close")
	}
	ctx, cancel := context.WithCancel(r.Context())
	body := r.Body
	read := make(chan struct{})
	var whole atomic.Bool // the body was read to its end
	go func() {
		defer close(read)
		n, err := io.Copy(io.Discard, io.LimitReader(body, maxGETBody+1))
		if err != nil || n > maxGETBody {
			cancel()
			return
		}
		whole.Store(true)
	}()
	return r.WithContext(ctx), func() {
		cancel()
		if !whole.Load() {
			// Unblock the reader, and fail net/http's own read of the rest
			// after the handler, which would race a read of the next
			// request: the connection closes instead of serving again.
			_ = rc.SetReadDeadline(time.Now())
		}
		<-read
	}
}

// limitBody is the routes' middleware that bounds every request body
// besides GET's (see watchUnwantedBody): larger than the route's limit (its
// ssegate.v1.route max_body_bytes, else the gateway's), it gets 413 before
// any upstream call; not read within the gateway's body read timeout (a
// client sending a byte now and then), 408. The body is read here, whole,
// so that the handler decodes from memory and never waits on the client.
func (r *Routes) limitBody(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request, params map[string]string) {
		if req.Method == http.MethodGet || req.ContentLength == 0 || req.Body == nil || req.Body == http.NoBody {
			next(w, req, params)
			return
		}
		limit := r.g.cfg.maxBody
		if pattern, ok := runtime.HTTPPattern(req.Context()); ok {
			if l, ok := r.bodyLimits[req.Method+" "+pattern.String()]; ok {
				limit = l
			}
		}
		if req.ContentLength > limit {
			tooLarge(w, req, limit)
			return
		}
		rc := http.NewResponseController(w)
		if t := r.g.cfg.bodyReadTimeout; t > 0 {
			// The deadline is on the real connection, so it uses real time.
			_ = rc.SetReadDeadline(time.Now().Add(t))
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The deadline stays: net/http would otherwise wait for the
			// rest of the body before it sends this answer.
			if req.ProtoMajor == 1 {
				w.Header().Set("Connection", "close")
			}
			httperr.WriteStatus(w, http.StatusRequestTimeout, codes.DeadlineExceeded, "request body not received in time")
			return
		case err != nil:
			httperr.Write(w, codes.InvalidArgument, "request body could not be read")
			return
		case int64(len(body)) > limit:
			tooLarge(w, req, limit)
			return
		}
		_ = rc.SetReadDeadline(time.Time{})
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		next(w, req, params)
	}
}

func tooLarge(w http.ResponseWriter, req *http.Request, limit int64) {
	if req.ProtoMajor == 1 {
		// The client may still be sending: do not read the rest, close.
		w.Header().Set("Connection", "close")
	}
	httperr.WriteStatus(w, http.StatusRequestEntityTooLarge, codes.ResourceExhausted,
		fmt.Sprintf("request body is larger than %d bytes", limit))
}

// patternString is a template as grpc-gateway's Pattern.String writes it,
// a variable without a pattern written as {name=*}, so that limits found
// at registration match the routed pattern.
func patternString(template string) string {
	return bareVariable.ReplaceAllString(template, "{$1=*}")
}

var bareVariable = regexp.MustCompile(`\{([^=}]+)\}`)
