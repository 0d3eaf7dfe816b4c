package gateway

import (
	"context"
	"io"
	"net/http"
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
// the client disconnects or sends too much.
func watchUnwantedBody(w http.ResponseWriter, r *http.Request) (*http.Request, context.CancelFunc) {
	// HTTP/2 needs none of this and answers ErrNotSupported.
	_ = http.NewResponseController(w).EnableFullDuplex()
	ctx, cancel := context.WithCancel(r.Context())
	body := r.Body
	go func() {
		n, err := io.Copy(io.Discard, io.LimitReader(body, maxGETBody+1))
		if err != nil || n > maxGETBody {
			cancel()
		}
	}()
	return r.WithContext(ctx), cancel
}
