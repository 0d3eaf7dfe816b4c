package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	benchv1 "github.com/ssegate/ssegate/gen/ssegate/bench/v1"
	"github.com/ssegate/ssegate/internal/bench/sseclient"
)

// path is one way of reading the bench stream.
type path int

const (
	// direct: a gRPC client reads the backend, no gateway.
	direct path = iota
	// sse: through ssegate, as Server-Sent Events.
	sse
	// ndjson: through grpc-gateway's generated handler alone.
	ndjson
	// fallback: ssegate's own NDJSON answer at the SSE URL, for clients
	// that do not accept text/event-stream.
	fallback
)

var pathNames = [...]string{"direct gRPC", "ssegate SSE", "grpc-gateway NDJSON", "ssegate NDJSON fallback"}

func (p path) String() string { return pathNames[p] }

func (p path) slug() string { return [...]string{"direct", "sse", "ndjson", "fallback"}[p] }

// query is one bench stream request.
type query struct {
	size  int
	rate  int // per stream, per second; 0: as fast as possible
	count uint64
	idle  bool
}

func (q query) proto() *benchv1.StreamRequest {
	return &benchv1.StreamRequest{Size: uint32(q.size), Rate: uint32(q.rate), Count: q.count, Idle: q.idle}
}

// target is where the streams go: one gateway process and the backend.
type target struct {
	gateway string // host:port
	backend *grpc.ClientConn
	client  *http.Client
}

func dialBackend(addr string) (*grpc.ClientConn, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// newHTTPClient returns a client for load: no compression, no proxy, no
// cap on connections. Without keepAlive every request has a connection of
// its own. With reset, closing a connection sends RST instead of FIN, so
// ten thousand closed streams leave no TIME_WAIT sockets behind.
//
// With h2c the client speaks HTTP/2 without TLS, many streams on each
// connection (the server's limit, 250 by default, decides how many).
func newHTTPClient(keepAlive, reset, h2c bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	dial := d.DialContext
	if reset {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			return c, err
		}
	}
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		DisableCompression:    true,
		DisableKeepAlives:     !keepAlive,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		ResponseHeaderTimeout: 10 * time.Second,
	}
	if h2c {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: t}
}

func (t *target) url(p path, q query) string {
	v := url.Values{}
	v.Set("size", strconv.Itoa(q.size))
	v.Set("rate", strconv.Itoa(q.rate))
	v.Set("count", strconv.FormatUint(q.count, 10))
	if q.idle {
		v.Set("idle", "true")
	}
	prefix := ""
	if p == ndjson {
		prefix = GeneratedPrefix
	}
	return "http://" + t.gateway + prefix + "/v1/bench/stream?" + v.Encode()
}

// get starts one HTTP stream and returns the response once its headers are in.
func (t *target) get(ctx context.Context, p path, q query) (*http.Response, error) {
	accept := "application/json"
	if p == sse {
		accept = "text/event-stream"
	}
	return t.getURL(ctx, t.url(p, q), accept, p.String())
}

func (t *target) getURL(ctx context.Context, url, accept, what string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s: %s", what, resp.Status, bytes.TrimSpace(b))
	}
	return resp, nil
}

// consume reads one stream to its end, calling each once per message with
// the backend's send time (Unix nanoseconds) when withTime is set, 0
// otherwise. It returns nil at a clean end; when ctx ends first, ctx's error.
func (t *target) consume(ctx context.Context, p path, q query, withTime bool, each func(sent int64)) error {
	if p == direct {
		return t.consumeGRPC(ctx, q, each)
	}
	resp, err := t.get(ctx, p, q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if p == sse {
		err = consumeSSE(resp.Body, 64<<10, withTime, each)
	} else {
		err = consumeNDJSON(resp.Body, each)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (t *target) consumeGRPC(ctx context.Context, q query, each func(int64)) error {
	s, err := benchv1.NewBenchServiceClient(t.backend).Stream(ctx, q.proto())
	if err != nil {
		return err
	}
	var msg benchv1.StreamResponse // reused, as the SSE reader reuses its buffers
	for {
		if err := s.RecvMsg(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		each(msg.GetSentUnixNano())
	}
}

// consumeSSE reads an SSE body with a buffer of bufSize bytes: large for
// throughput, small when ten thousand streams are read at once.
func consumeSSE(body io.Reader, bufSize int, withTime bool, each func(int64)) error {
	r := sseclient.NewReader(body, bufSize)
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("sse: stream closed without an end event")
			}
			return err
		}
		switch string(ev.Name) {
		case "":
		case "end":
			return nil
		case "error":
			return fmt.Errorf("sse: error event: %s", ev.Data)
		default:
			return fmt.Errorf("sse: unexpected event %q", ev.Name)
		}
		var sent int64
		if withTime {
			if sent, err = sentTime(ev.Data); err != nil {
				return err
			}
		}
		each(sent)
	}
}

var resultPrefix = []byte(`{"result":`)

func consumeNDJSON(body io.Reader, each func(int64)) error {
	r := bufio.NewReaderSize(body, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil
		}
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(line, resultPrefix) {
			return fmt.Errorf("ndjson: unexpected line %.200q", line)
		}
		each(0)
	}
}

var sentKey = []byte(`"sentUnixNano":"`)

// sentTime finds the send time in an event's data, the message as
// protojson, without decoding all of it.
func sentTime(data []byte) (int64, error) {
	i := bytes.Index(data, sentKey)
	if i < 0 {
		return 0, fmt.Errorf("no sentUnixNano in %.200q", data)
	}
	rest := data[i+len(sentKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, fmt.Errorf("unterminated sentUnixNano in %.200q", data)
	}
	return strconv.ParseInt(string(rest[:j]), 10, 64)
}
