// Package relay pumps one upstream gRPC server stream into one SSE response.
//
// The handler goroutine is the only writer: a receive goroutine reads
// messages from the backend into a bounded channel, and the writer selects
// on that channel, the heartbeat timer, the session's expiry and
// revocation, and the client's context. A client that goes away cancels the upstream stream through the
// context the caller derived it from.
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/jonboulle/clockwork"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ssegate/ssegate/gateway/httperr"
	"github.com/ssegate/ssegate/gateway/mapping"
	"github.com/ssegate/ssegate/gateway/resume"
	"github.com/ssegate/ssegate/gateway/sse"
)

// Defaults for Config fields left zero.
const (
	DefaultHeartbeat  = 15 * time.Second
	DefaultHeaderWait = 300 * time.Millisecond
	DefaultQueue      = 64
	// DefaultQueueBytes bounds the bytes of queued messages; one message
	// larger than that is still taken when the queue is empty.
	DefaultQueueBytes = 1 << 20
	// flushSize bounds how many bytes of queued events go out in one write.
	flushSize = 32 << 10
)

// Stream is the part of a grpc.ClientStream the pump reads.
type Stream interface {
	Header() (metadata.MD, error)
	RecvMsg(m any) error
}

// Config holds everything one pump needs besides the stream. Serve,
// ServeFeed and Answer read it until they return: leave it unchanged
// meanwhile.
type Config struct {
	// Mapper turns messages into events.
	Mapper *mapping.Mapper
	// NewMessage returns an empty response message to receive into.
	NewMessage func() proto.Message
	// ReleaseMessage, when not nil, takes back a message once its event is
	// encoded, for NewMessage to hand out again (RecvMsg resets it).
	ReleaseMessage func(proto.Message)
	// Retry is sent as retry: with the first event; zero sends none.
	Retry time.Duration
	// Heartbeat is the idle time after which a comment is sent.
	Heartbeat time.Duration
	// HeaderWait bounds the wait for the backend's response headers before
	// the 200 is committed anyway.
	HeaderWait time.Duration
	// WriteTimeout is the deadline of each write to the client; a client
	// that does not take an event within it is evicted. Zero: none.
	WriteTimeout time.Duration
	// Expiry ends the stream with an UNAUTHENTICATED error event; the zero
	// time means never.
	Expiry time.Time
	// Revoked, when closed, ends the stream the same way: its session was
	// revoked (signed out). Nil means never.
	Revoked <-chan struct{}
	// Queue bounds the messages received but not yet written.
	Queue int
	// QueueBytes bounds the same messages by their encoded size.
	QueueBytes int
	// OnWrite, when not nil, is told what each write to the client carried,
	// as it happens, so counters move while a stream runs.
	OnWrite func(Progress)
	// Deadline ends the stream at an event boundary with a reconnect event
	// (the maximum stream lifetime); the zero time means never.
	Deadline time.Time
	// Drain, when closed, ends the stream at an event boundary with a
	// reconnect event, as Deadline does.
	Drain <-chan struct{}
	// ReconnectRetry returns the retry sent with a reconnect event; the
	// gateway jitters it so that clients do not all come back at once.
	ReconnectRetry func() time.Duration
	// Clock drives the heartbeat, header wait and expiry timers.
	Clock clockwork.Clock
	// Logger receives backend faults; nil discards.
	Logger *slog.Logger
}

// Progress is what one write to the client carried.
type Progress struct {
	Events, Bytes, Heartbeats int
}

// Outcome tells how a stream ended.
type Outcome int

// Outcomes of Serve.
const (
	// NoContent: the stream had already ended; 204 was sent.
	NoContent Outcome = iota
	// Refused: an error before the first event was sent as HTTP status.
	Refused
	// Ended: the backend ended cleanly; a final end event was sent.
	Ended
	// Failed: a permanent error; a final error event was sent.
	Failed
	// Interrupted: a transient failure; closed without a final event so
	// the client reconnects.
	Interrupted
	// Expired: the session expired; an UNAUTHENTICATED error event was sent.
	Expired
	// ClientGone: the client went away or could not be written to.
	ClientGone
	// Reconnect: the gateway ended the stream (lifetime or drain) with a
	// reconnect event; the client resumes, perhaps on another instance.
	Reconnect
	// Revoked: the session was revoked; an UNAUTHENTICATED error event was
	// sent.
	Revoked
)

var outcomeNames = [...]string{"no_content", "refused", "ended", "failed", "interrupted", "expired", "client_gone", "reconnect", "revoked"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Result summarises a served stream.
type Result struct {
	Outcome Outcome
	// Code is the gRPC code the stream ended with.
	Code   codes.Code
	Events int
	Bytes  int
	// Heartbeats counts comment lines sent while idle.
	Heartbeats int
	// Committed tells when the 200 and the first comment were written;
	// zero if they never were.
	Committed time.Time
	// WriteErr is the error of the write that failed, when the stream
	// ended because the client could not be written to: a missed write
	// deadline (os.ErrDeadlineExceeded) means a slow client was evicted.
	WriteErr error
}

// Classify tells how a stream that ended with err (io.EOF for a clean end)
// ended, as seen from the backend: Ended, Interrupted (a transient failure
// or a cancellation, which the client resumes from) or Failed.
func Classify(err error) (Outcome, codes.Code) {
	if errors.Is(err, io.EOF) {
		return Ended, codes.OK
	}
	code := status.Code(err)
	if Transient(code) || code == codes.Canceled {
		return Interrupted, code
	}
	return Failed, code
}

// Transient reports whether a stream that failed with code should be
// resumed by the client rather than ended for good.
func Transient(code codes.Code) bool {
	switch code {
	case codes.Unavailable, codes.Aborted, codes.ResourceExhausted:
		return true
	}
	return false
}

// Item is one thing a stream's writer takes: a message from the backend
// (Msg), an event a shared upstream mapped and encoded once for all its
// streams (Event), or the end of the stream (Err: io.EOF for a clean end,
// a gRPC status error, or ErrEvicted).
type Item struct {
	Msg   proto.Message
	Event *Encoded
	Err   error
	size  int // the message's encoded size, counted against QueueBytes
}

// Encoded is an event mapped from a message and encoded, kept by a shared
// upstream for every stream it feeds. It is never modified once made.
type Encoded struct {
	// ID is the event's id ("" for none), which a client resumes from.
	ID string
	// Event is the event, without a retry.
	Event sse.Event
	// Wire is Event encoded.
	Wire []byte
}

// Encode maps msg to an event with mapper and encodes it. An event that
// cannot be sent (an id a client could not send back, a name the gateway
// reserves, a line break in a name) is an error: a backend fault.
func Encode(mapper *mapping.Mapper, msg proto.Message) (*Encoded, error) {
	e := &Encoded{}
	if err := mapper.Map(msg, &e.Event); err != nil {
		return nil, err
	}
	if err := resume.CheckID(e.Event.ID); err != nil {
		return nil, err
	}
	wire, err := sse.AppendEvent(nil, &e.Event)
	if err != nil {
		return nil, err
	}
	e.ID, e.Wire = e.Event.ID, wire
	return e, nil
}

// EncodeReset is the reset event: the resume point a client asked for is
// older than the history the backend still keeps, and events follow from
// oldest, the oldest id still available.
func EncodeReset(oldest string) *Encoded {
	data, _ := json.Marshal(map[string]string{"oldest": oldest})
	e := &Encoded{Event: sse.Event{Name: mapping.EventReset, Data: data}}
	e.Wire, _ = sse.AppendEvent(nil, &e.Event)
	return e
}

// ErrEvicted ends a shared stream whose client fell too far behind: the
// client is closed without a final event, so it reconnects and resumes.
var ErrEvicted = errors.New("relay: client too slow, evicted")

type pump struct {
	ctx    context.Context
	cfg    *Config // read only
	w      http.ResponseWriter
	rc     *http.ResponseController
	res    Result
	buf    []byte
	ev     sse.Event
	first  bool
	logger *slog.Logger
	// reported is what OnWrite has been told of so far.
	reported Progress
	// lastEvent is when events were last written.
	lastEvent time.Time
	// stall ends a write that takes longer than WriteTimeout.
	stall *stallTimer
}

// newPump returns a pump writing to w with cfg, which it does not modify
// and the caller keeps unchanged while the pump runs. A cfg that leaves a
// default unset is copied with the default filled in; one that sets them
// all (the gateway's) is shared, as thousands of idle streams would hold
// a copy each.
//
//go:noinline
func newPump(ctx context.Context, w http.ResponseWriter, cfg *Config) *pump {
	if cfg.Heartbeat <= 0 || cfg.HeaderWait <= 0 || cfg.Queue <= 0 || cfg.QueueBytes <= 0 || cfg.Clock == nil {
		c := *cfg
		if c.Heartbeat <= 0 {
			c.Heartbeat = DefaultHeartbeat
		}
		if c.HeaderWait <= 0 {
			c.HeaderWait = DefaultHeaderWait
		}
		if c.Queue <= 0 {
			c.Queue = DefaultQueue
		}
		if c.QueueBytes <= 0 {
			c.QueueBytes = DefaultQueueBytes
		}
		if c.Clock == nil {
			c.Clock = clockwork.NewRealClock()
		}
		cfg = &c
	}
	p := &pump{ctx: ctx, cfg: cfg, w: w, rc: http.NewResponseController(w), first: true, logger: cfg.Logger}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	return p
}

// Serve relays stream to w until the stream ends, the client leaves or the
// session expires. ctx must be the context the stream was opened with, so
// that returning (the caller cancels it) ends the upstream call.
func Serve(ctx context.Context, w http.ResponseWriter, stream Stream, cfg *Config) Result {
	p := newPump(ctx, w, cfg)
	var pending *Item
	md, err := p.awaitHeader(ctx, stream)
	switch {
	case err != nil:
		return p.res // client gone, or the outcome was already answered
	case md == nil:
		// The backend ended the stream without headers (trailers only):
		// nothing was sent, so the HTTP status can still say how it ended.
		msg := cfg.NewMessage()
		err := stream.RecvMsg(msg)
		if err == nil {
			pending = &Item{Msg: msg}
			break
		}
		if p.refuse(err) {
			return p.res
		}
		pending = &Item{Err: err}
	}
	if !p.commit() {
		return p.res
	}
	if oldest := md.Get(resume.MetadataReset); len(oldest) == 1 && !p.writeReplay([]*Encoded{EncodeReset(oldest[0])}) {
		return p.res
	}
	q := NewQueue(p.cfg.Queue, p.cfg.QueueBytes)
	if pending != nil {
		q.Offer(*pending)
	}
	if pending == nil || pending.Err == nil {
		go receive(ctx, q, stream, p.cfg.NewMessage)
	}
	return p.loop(ctx, q)
}

// ServeFeed relays events a shared upstream feeds to w: replay, the events
// of its window that the client has not seen, then what feed brings until
// it ends. The feed's sender never waits (Queue.Offer): it closes the feed
// of a stream that falls behind, which then ends without a final event.
// Like Serve, each stream keeps its own heartbeat, write deadline,
// lifetime, session expiry and drain; the caller has already decided that
// the stream is served (see Answer for the other outcomes).
func ServeFeed(ctx context.Context, w http.ResponseWriter, replay []*Encoded, feed *Queue, cfg *Config) Result {
	p := newPump(ctx, w, cfg)
	if !p.commit() || !p.writeReplay(replay) {
		return p.res
	}
	return p.loop(ctx, feed)
}

// Answer answers a stream that ended, or failed, before its first event,
// as Serve would: 204 for a clean end, the error's HTTP status and JSON
// for a permanent error, and for a transient one a 200 with a reconnect
// event, so that the client comes back.
func Answer(ctx context.Context, w http.ResponseWriter, err error, cfg *Config) Result {
	p := newPump(ctx, w, cfg)
	if p.refuse(err) || !p.commit() {
		return p.res
	}
	p.buf = p.appendReconnect(p.buf[:0])
	p.res.Outcome, p.res.Code = Classify(err)
	p.write()
	return p.res
}

// writeReplay writes events already encoded, in batches of up to
// flushSize; the first event written carries the retry.
func (p *pump) writeReplay(replay []*Encoded) bool {
	p.buf = p.buf[:0]
	for _, e := range replay {
		p.appendEncoded(e)
		if len(p.buf) >= flushSize {
			if !p.write() {
				return false
			}
			p.buf = p.buf[:0]
		}
	}
	return p.write()
}

var errAnswered = errors.New("relay: answered")

// Header is what a new stream's backend said first, within the header
// wait (see AwaitHeader).
type Header struct {
	// MD is the backend's header metadata; empty when the wait ran out.
	MD metadata.MD
	// Ended is set when the stream ended without headers (trailers only):
	// the next RecvMsg tells how (io.EOF, or the error).
	Ended bool
	// TimedOut is set when the backend said nothing within the wait: the
	// stream is taken as accepted, and read on.
	TimedOut bool
}

// AwaitHeader waits at most wait for the backend's response headers on
// stream. It returns ctx's error when ctx ends first.
func AwaitHeader(ctx context.Context, stream Stream, wait time.Duration, clock clockwork.Clock) (Header, error) {
	type header struct {
		md  metadata.MD
		err error
	}
	got := make(chan header, 1) // buffered: the goroutine never blocks
	go func() {
		md, err := stream.Header()
		got <- header{md, err}
	}()
	timer := clock.NewTimer(wait)
	defer timer.Stop()
	select {
	case h := <-got:
		// Header fails only when the stream broke before any header: the
		// status comes from RecvMsg, as for a trailers-only end.
		if h.err != nil || h.md == nil {
			return Header{Ended: true}, nil
		}
		return Header{MD: h.md}, nil
	case <-timer.Chan():
		return Header{MD: metadata.MD{}, TimedOut: true}, nil
	case <-ctx.Done():
		return Header{}, ctx.Err()
	}
}

// awaitHeader waits a bounded time for the backend's response headers. It
// returns nil metadata when the stream ended without them, and a non-nil
// placeholder when the wait ran out, so the caller commits the 200 and keeps
// reading: no message is lost.
func (p *pump) awaitHeader(ctx context.Context, stream Stream) (metadata.MD, error) {
	h, err := AwaitHeader(ctx, stream, p.cfg.HeaderWait, p.cfg.Clock)
	if err != nil {
		p.res.Outcome = ClientGone
		p.res.Code = codes.Canceled
		return nil, errAnswered
	}
	return h.MD, nil
}

// refuse answers an end or error that came before the 200 was committed.
// It reports false for a transient error, which the caller sends as an
// open-then-closed stream so that EventSource reconnects instead of giving
// up, as it would on a non-200 status.
func (p *pump) refuse(err error) bool {
	outcome, code := Classify(err)
	p.res.Code = code
	switch outcome {
	case Ended:
		p.res.Outcome = NoContent
		p.w.WriteHeader(http.StatusNoContent)
		return true
	case Interrupted:
		return false
	}
	st := status.Convert(err)
	p.res.Outcome = Refused
	p.logFault(st)
	httperr.Write(p.w, st.Code(), httperr.Message(st))
	return true
}

// commit sends the SSE headers and a first comment at once, so clients and
// proxies see a live stream before the first event.
func (p *pump) commit() bool {
	h := p.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	p.buf = sse.AppendComment(p.buf[:0], "ok")
	// net/http writes the response header in deep frames; written from
	// the stream's own goroutine they would double its stack for the
	// life of the stream. The goroutine waits, so the writer is still
	// used by one goroutine at a time.
	done := make(chan bool)
	go func() {
		p.w.WriteHeader(http.StatusOK)
		done <- p.write()
	}()
	ok := <-done
	p.res.Committed = p.cfg.Clock.Now()
	return ok
}

// loop writes what q brings, with heartbeats while idle, until the
// stream ends, the client leaves, the session expires, or the gateway ends
// the stream (lifetime, drain); taken is told of each item taken.
func (p *pump) loop(ctx context.Context, q *Queue) Result {

	heartbeat := p.cfg.Clock.NewTimer(p.cfg.Heartbeat)
	defer heartbeat.Stop()
	defer func() {
		if p.stall != nil {
			p.stall.stop()
		}
	}()
	expired, stopExpiry := p.timerAt(p.cfg.Expiry)
	defer stopExpiry()
	lifetime, stopLifetime := p.timerAt(p.cfg.Deadline)
	defer stopLifetime()

	for {
		select {
		case <-ctx.Done():
			p.res.Outcome, p.res.Code = ClientGone, codes.Canceled
			return p.res
		case <-heartbeat.Chan():
			if idle := p.cfg.Clock.Since(p.lastEvent); idle < p.cfg.Heartbeat {
				// Events went out since it was set: idle for less.
				heartbeat.Reset(p.cfg.Heartbeat - idle)
				continue
			}
			p.buf = sse.AppendComment(p.buf[:0], "")
			p.res.Heartbeats++
			if !p.write() {
				return p.res
			}
			heartbeat.Reset(p.cfg.Heartbeat)
		case <-lifetime:
			p.reconnect()
			return p.res
		case <-p.cfg.Drain:
			p.reconnect()
			return p.res
		case <-expired:
			p.buf = p.appendError(p.buf[:0], codes.Unauthenticated, "session expired")
			p.res.Outcome, p.res.Code = Expired, codes.Unauthenticated
			p.write()
			return p.res
		case <-p.cfg.Revoked:
			p.buf = p.appendError(p.buf[:0], codes.Unauthenticated, "session ended")
			p.res.Outcome, p.res.Code = Revoked, codes.Unauthenticated
			p.write()
			return p.res
		case <-q.ready:
			done := p.batch(q)
			if !p.write() || done {
				return p.res
			}
			// Read when the heartbeat fires, rather than a timer reset
			// for every event.
			p.lastEvent = p.cfg.Clock.Now()
		}
	}
}

// timerAt returns a channel that fires at t, or a nil channel (never) for
// the zero time.
func (p *pump) timerAt(t time.Time) (<-chan time.Time, func()) {
	if t.IsZero() {
		return nil, func() {}
	}
	timer := p.cfg.Clock.NewTimer(p.cfg.Clock.Until(t))
	return timer.Chan(), func() { timer.Stop() }
}

// reconnect ends the stream with an event that carries a retry delay, so
// the client reconnects after it and resumes with Last-Event-ID. It is a
// named event with data because a retry line alone is dispatched as an
// empty message by some clients; EventSource ignores event names it has
// no listener for.
func (p *pump) reconnect() {
	p.buf = p.appendReconnect(p.buf[:0])
	p.res.Outcome, p.res.Code = Reconnect, codes.Unavailable
	p.write()
}

func (p *pump) appendReconnect(buf []byte) []byte {
	retry := p.cfg.Retry
	if p.cfg.ReconnectRetry != nil {
		retry = p.cfg.ReconnectRetry()
	}
	buf, _ = sse.AppendEvent(buf, &sse.Event{Name: mapping.EventReconnect, Retry: retry, Data: []byte("{}")})
	return buf
}

// batch encodes what q holds, up to flushSize, into p.buf. It reports
// whether the stream has ended.
func (p *pump) batch(q *Queue) bool {
	p.buf = p.buf[:0]
	for len(p.buf) < flushSize {
		r, ok := q.take()
		if !ok {
			return false
		}
		switch {
		case r.Event != nil:
			p.appendEncoded(r.Event)
		case r.Err != nil:
			p.finish(r.Err)
			return true
		default:
			if !p.appendEvent(r.Msg) {
				return true
			}
			// The event holds no reference to the message. One that grew
			// beyond what is worth keeping is left to the collector.
			if p.cfg.ReleaseMessage != nil && r.size <= sse.MaxRetainedBuffer {
				p.cfg.ReleaseMessage(r.Msg)
			}
		}
	}
	// More is queued: come back for it after this write.
	signal(q.ready)
	return false
}

// appendEncoded appends e, encoded once for many streams; the first event
// of this stream is encoded again with the retry.
func (p *pump) appendEncoded(e *Encoded) {
	if p.first {
		ev := e.Event
		ev.Retry = p.cfg.Retry
		p.buf, _ = sse.AppendEvent(p.buf, &ev)
		p.first = false
	} else {
		p.buf = append(p.buf, e.Wire...)
	}
	if e.Event.Name != mapping.EventReset {
		p.res.Events++
	}
}

func (p *pump) appendEvent(msg proto.Message) bool {
	ev := &p.ev
	err := p.cfg.Mapper.Map(msg, ev)
	if err == nil {
		// An id the client could not send back would stop it for good at
		// its next reconnect.
		err = resume.CheckID(ev.ID)
	}
	if err != nil {
		ev.Data = sse.Recycle(ev.Data)
		return p.badEvent(err)
	}
	ev.Retry = 0
	if p.first {
		ev.Retry = p.cfg.Retry
	}
	buf, err := sse.AppendEvent(p.buf, ev)
	ev.Data = sse.Recycle(ev.Data)
	if err != nil {
		return p.badEvent(err)
	}
	p.buf, p.first = buf, false
	p.res.Events++
	return true
}

// badEvent ends a stream whose backend sent a message that cannot be an
// event (say, an id with a line break): a permanent backend fault.
func (p *pump) badEvent(err error) bool {
	p.logger.ErrorContext(p.ctx, "backend message cannot be sent as an event", "err", err)
	p.buf = p.appendError(p.buf, codes.Internal, "internal error")
	p.res.Outcome, p.res.Code = Failed, codes.Internal
	return false
}

// finish appends the end of a stream: an end event for a clean end, an
// error event for a permanent error, nothing for a transient failure.
func (p *pump) finish(err error) {
	if errors.Is(err, ErrEvicted) {
		p.res.Outcome, p.res.Code, p.res.WriteErr = ClientGone, codes.Canceled, err
		return
	}
	p.res.Outcome, p.res.Code = Classify(err)
	switch p.res.Outcome {
	case Ended:
		p.buf, _ = sse.AppendEvent(p.buf, &sse.Event{Name: mapping.EventEnd, Data: []byte("{}")})
		return
	case Interrupted:
		if p.first {
			// No event has carried a retry yet: without one, every client
			// would come back at its default delay, all at once.
			p.buf = p.appendReconnect(p.buf)
		}
		return
	}
	st := status.Convert(err)
	p.logFault(st)
	p.buf = p.appendError(p.buf, st.Code(), httperr.Message(st))
}

func (p *pump) appendError(buf []byte, code codes.Code, message string) []byte {
	data, _ := json.Marshal(httperr.Body{Code: httperr.CodeName(code), Message: message})
	buf, _ = sse.AppendEvent(buf, &sse.Event{Name: mapping.EventError, Data: data})
	return buf
}

func (p *pump) logFault(st *status.Status) {
	switch st.Code() {
	case codes.Internal, codes.Unknown, codes.DataLoss:
		p.logger.ErrorContext(p.ctx, "backend stream failed", "code", st.Code().String(), "message", st.Message())
	}
}

// write sends p.buf and flushes it. A write that fails or misses its
// deadline means the client is gone or too slow: the stream ends.
func (p *pump) write() bool {
	if len(p.buf) == 0 {
		return true
	}
	if p.cfg.WriteTimeout > 0 {
		if p.stall == nil {
			p.stall = &stallTimer{rc: p.rc, timeout: p.cfg.WriteTimeout}
		}
		p.stall.begin()
	}
	n, err := p.w.Write(p.buf)
	p.res.Bytes += n
	p.buf = sse.Recycle(p.buf)
	if err == nil {
		err = p.rc.Flush()
	}
	if p.stall != nil {
		p.stall.end()
	}
	p.report()
	if err != nil {
		p.res.Outcome, p.res.Code, p.res.WriteErr = ClientGone, codes.Canceled, err
		return false
	}
	return true
}

// report tells OnWrite what the stream sent since it was last told.
func (p *pump) report() {
	if p.cfg.OnWrite == nil {
		return
	}
	now := Progress{Events: p.res.Events, Bytes: p.res.Bytes, Heartbeats: p.res.Heartbeats}
	p.cfg.OnWrite(Progress{
		Events:     now.Events - p.reported.Events,
		Bytes:      now.Bytes - p.reported.Bytes,
		Heartbeats: now.Heartbeats - p.reported.Heartbeats,
	})
	p.reported = now
}

// SendReconnect answers a stream that the gateway will not serve now (it is
// draining) with a 200 and a reconnect event: unlike an error status, which
// makes EventSource give up for good, this makes it come back after retry,
// perhaps to another instance.
func SendReconnect(w http.ResponseWriter, retry time.Duration) {
	p := &pump{w: w, rc: http.NewResponseController(w), cfg: &Config{Retry: retry, Clock: clockwork.NewRealClock()}}
	if p.commit() {
		p.reconnect()
	}
}
