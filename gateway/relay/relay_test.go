package relay_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/ssegate/ssegate/gateway/mapping"
	"github.com/ssegate/ssegate/gateway/relay"
	"github.com/ssegate/ssegate/gateway/resume"
	ssegatev1 "github.com/ssegate/ssegate/gen/ssegate/v1"
	"github.com/ssegate/ssegate/internal/ssetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// eventType is a response message built from descriptors: a string id, an
// event_name field and a raw text field, so a test can send any id, name
// and size.
var eventType = func() protoreflect.MessageDescriptor {
	str := func(s string) *string { return &s }
	field := func(name string, n int32, opts *ssegatev1.FieldOptions) *descriptorpb.FieldDescriptorProto {
		fo := &descriptorpb.FieldOptions{}
		proto.SetExtension(fo, ssegatev1.E_Field, opts)
		return &descriptorpb.FieldDescriptorProto{Name: str(name), JsonName: str(name), Number: proto.Int32(n),
			Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Options: fo}
	}
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name: str("relay_test.proto"), Package: str("relaytest"), Syntax: str("proto3"),
		Dependency: []string{"ssegate/v1/options.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{Name: str("Event"), Field: []*descriptorpb.FieldDescriptorProto{
			field("id", 1, &ssegatev1.FieldOptions{EventId: true}),
			field("name", 2, &ssegatev1.FieldOptions{EventName: true}),
			field("text", 3, &ssegatev1.FieldOptions{RawText: true}),
		}}},
	}, protoregistry.GlobalFiles)
	if err != nil {
		panic(err)
	}
	return fd.Messages().Get(0)
}()

func event(id, name, text string) proto.Message {
	m := dynamicpb.NewMessage(eventType)
	f := eventType.Fields()
	m.Set(f.ByName("id"), protoreflect.ValueOfString(id))
	m.Set(f.ByName("name"), protoreflect.ValueOfString(name))
	m.Set(f.ByName("text"), protoreflect.ValueOfString(text))
	return m
}

// fakeStream hands out the messages of items in order, then io.EOF, or
// blocks until its context ends when idle is set. It counts the calls to
// RecvMsg and what had been written to the client at each.
type fakeStream struct {
	ctx   context.Context
	items []proto.Message
	idle  bool
	// before, when not nil, is called at the start of every RecvMsg.
	before func(call int)

	mu    sync.Mutex
	calls int
}

func (s *fakeStream) Header() (metadata.MD, error) { return metadata.MD{}, nil }

func (s *fakeStream) RecvMsg(m any) error {
	s.mu.Lock()
	s.calls++
	call := s.calls
	var next proto.Message
	if len(s.items) > 0 {
		next, s.items = s.items[0], s.items[1:]
	}
	s.mu.Unlock()
	if s.before != nil {
		s.before(call)
	}
	if next == nil {
		if s.idle {
			<-s.ctx.Done()
			return s.ctx.Err()
		}
		return io.EOF
	}
	proto.Reset(m.(proto.Message))
	proto.Merge(m.(proto.Message), next)
	return nil
}

func (s *fakeStream) recvCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// writer is a ResponseWriter that keeps the body (or only counts it) and
// may hold writes until a gate opens.
type writer struct {
	header http.Header
	gate   chan struct{} // nil: never blocks
	keep   bool

	mu     sync.Mutex
	body   strings.Builder
	writes int
}

func newWriter(keep bool) *writer { return &writer{header: http.Header{}, keep: keep} }

func (w *writer) Header() http.Header { return w.header }
func (w *writer) WriteHeader(int)     {}
func (w *writer) Flush()              {}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	n := w.writes
	w.mu.Unlock()
	if w.gate != nil && n > 1 { // the first write is the ": ok" comment
		<-w.gate
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.keep {
		w.body.Write(p)
	}
	return len(p), nil
}

func (w *writer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.body.String()
}

func (w *writer) writeCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes
}

func config(t testing.TB) relay.Config {
	m, err := mapping.New(eventType)
	if err != nil {
		t.Fatal(err)
	}
	return relay.Config{
		Mapper:     m,
		NewMessage: func() proto.Message { return dynamicpb.NewMessage(eventType) },
		Heartbeat:  time.Hour,
	}
}

const internalError = "event: error\ndata: {\"code\":\"INTERNAL\",\"message\":\"internal error\"}\n\n"

// A message that cannot become an event a client can resume from, or that
// takes one of the gateway's event names, ends the stream as a backend
// fault: the events before it go out, then an error event.
func TestBackendFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, id, event string
		want            string // after the first event
	}{
		{name: "good id", id: "a-2", want: "id: a-2\ndata: x\n\nevent: end\ndata: {}\n\n"},
		{name: "longest id", id: strings.Repeat("a", resume.MaxLength), want: "id: " + strings.Repeat("a", resume.MaxLength) + "\ndata: x\n\nevent: end\ndata: {}\n\n"},
		{name: "id too long", id: strings.Repeat("a", resume.MaxLength+1), want: internalError},
		{name: "non-ASCII id", id: "ü", want: internalError},
		{name: "control character in id", id: "a\x7f", want: internalError},
		{name: "line break in id", id: "a\nb", want: internalError},
		{name: "reserved name end", id: "2", event: "end", want: internalError},
		{name: "reserved name reconnect", id: "2", event: "reconnect", want: internalError},
		{name: "name like a reserved one", id: "2", event: "ending", want: "id: 2\nevent: ending\ndata: x\n\nevent: end\ndata: {}\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWriter(true)
			s := &fakeStream{ctx: t.Context(), items: []proto.Message{event("1", "", "first"), event(tt.id, tt.event, "x")}}
			res := relay.Serve(t.Context(), w, s, new(config(t)))
			want := ": ok\nid: 1\ndata: first\n\n" + tt.want
			if got := w.String(); got != want {
				t.Fatalf("body\n got %q\nwant %q", got, want)
			}
			if tt.want == internalError && (res.Outcome != relay.Failed || res.Events != 1) {
				t.Fatalf("result %+v, want Failed after 1 event", res)
			}
		})
	}
}

// FuzzSentIDsResume: whatever id a backend sends, an id the relay writes is
// one that resume accepts when the client sends it back.
func FuzzSentIDsResume(f *testing.F) {
	for _, s := range []string{"1", "", "ü", "a\x00", strings.Repeat("7", 300), " x "} {
		f.Add(s)
	}
	cfg := config(f)
	f.Fuzz(func(t *testing.T, id string) {
		w := newWriter(true)
		s := &fakeStream{ctx: context.Background(), items: []proto.Message{event(id, "", "x")}}
		relay.Serve(context.Background(), w, s, &cfg)
		events, _ := ssetest.NewReader(strings.NewReader(w.String())).Events()
		for _, ev := range events {
			if !ev.Has("id") {
				continue
			}
			sent := ev.ID
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set(resume.Header, sent)
			if got, err := resume.FromRequest(r); err != nil || got != sent {
				t.Fatalf("sent id %q, resume gives %q, %v", sent, got, err)
			}
		}
	})
}

// The messages read ahead of a client that does not keep up are bounded in
// bytes, not only in number: with messages of 100 KiB and a 300 KiB bound,
// the relay reads at most five messages more than it has written (one
// being written, three queued, one waiting for room), where a bound of 64
// messages alone would read 66.
func TestQueueBoundedInBytes(t *testing.T) {
	t.Parallel()
	const size = 100 << 10
	var items []proto.Message
	for range 40 {
		items = append(items, event("", "", strings.Repeat("x", size)))
	}
	w := newWriter(false)
	w.gate = make(chan struct{})
	var mu sync.Mutex
	var ahead []int // RecvMsg calls less event writes, at each call
	s := &fakeStream{ctx: t.Context(), items: items, before: func(call int) {
		mu.Lock()
		defer mu.Unlock()
		ahead = append(ahead, call-(w.writeCount()-1))
	}}
	cfg := config(t)
	cfg.Queue = 64
	cfg.QueueBytes = 3 * (size + 16)
	done := make(chan relay.Result, 1)
	go func() { done <- relay.Serve(t.Context(), w, s, &cfg) }()

	// Hold the writer until the reader has read ahead as far as it may,
	// and a little longer, so that reading further would be seen.
	deadline := time.Now().Add(10 * time.Second)
	for s.recvCalls() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages read", s.recvCalls())
		}
		time.Sleep(time.Millisecond)
	}
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end) && s.recvCalls() <= 6; {
		time.Sleep(time.Millisecond)
	}
	close(w.gate)
	res := <-done
	if res.Outcome != relay.Ended || res.Events != 40 {
		t.Fatalf("result %+v", res)
	}
	mu.Lock()
	defer mu.Unlock()
	for call, n := range ahead {
		if n > 6 { // five, plus the write that the count may not yet show
			t.Fatalf("RecvMsg call %d came %d messages ahead of the writes", call+1, n)
		}
	}
}

// After one large message, an idle stream holds none of its memory: the
// relay's buffers shrink back, and the message is not kept for reuse.
// (Not parallel: it reads the process's heap.)
func TestLargeMessageNotRetained(t *testing.T) {
	const size = 8 << 20
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := newWriter(false)
	cfg := config(t)
	var released []int
	cfg.ReleaseMessage = func(m proto.Message) { released = append(released, proto.Size(m)) }
	s := &fakeStream{ctx: ctx, idle: true, items: []proto.Message{event("1", "", strings.Repeat("x", size))}}
	before := heap()
	done := make(chan relay.Result, 1)
	go func() { done <- relay.Serve(ctx, w, s, &cfg) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.recvCalls() < 2 || w.writeCount() < 2 { // the event written, the stream idle
		if time.Now().After(deadline) {
			t.Fatal("the event was not written")
		}
		time.Sleep(time.Millisecond)
	}
	s.mu.Lock()
	s.items = nil // the test's own copy goes too
	s.mu.Unlock()
	held := int64(heap()) - int64(before)
	cancel()
	<-done
	if held > size/4 {
		t.Fatalf("an idle stream holds %d KiB after one %d KiB message", held>>10, size>>10)
	}
	for _, n := range released {
		if n > 64<<10 {
			t.Fatalf("a message of %d bytes was kept for reuse", n)
		}
	}
}

// A revoked session ends its stream at once with an UNAUTHENTICATED error
// event, whatever the backend is doing.
func TestRevokedSessionEndsTheStream(t *testing.T) {
	t.Parallel()
	w := newWriter(true)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := &fakeStream{ctx: ctx, items: []proto.Message{event("1", "", "first")}, idle: true}
	revoked := make(chan struct{})
	cfg := config(t)
	cfg.Revoked = revoked
	done := make(chan relay.Result, 1)
	go func() { done <- relay.Serve(ctx, w, s, &cfg) }()
	for !strings.Contains(w.String(), "data: first") {
		time.Sleep(time.Millisecond) // until the first event is out
	}
	close(revoked)
	res := <-done
	want := ": ok\nid: 1\ndata: first\n\nevent: error\ndata: {\"code\":\"UNAUTHENTICATED\",\"message\":\"session ended\"}\n\n"
	if got := w.String(); got != want {
		t.Fatalf("body\n got %q\nwant %q", got, want)
	}
	if res.Outcome != relay.Revoked || res.Outcome.String() != "revoked" || res.Code != codes.Unauthenticated {
		t.Fatalf("result %+v, want revoked UNAUTHENTICATED", res)
	}
}
