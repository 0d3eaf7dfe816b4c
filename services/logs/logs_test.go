package logs_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/services/logs"
	"github.com/ssegate/ssegate/services/store"

	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

func TestAppendTailFollowFinish(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := start(t, t.TempDir())
	c := b.client

	if off := mustAppend(ctx, t, c, "alice", "deploy", "step 1", false); off != 1 {
		t.Fatalf("first offset %d, want 1", off)
	}
	multi := "panic: boom\n\ngoroutine 1 [running]:\n\tmain.go:12"
	if off := mustAppend(ctx, t, c, "alice", "deploy", multi, false); off != 2 {
		t.Fatalf("second offset %d, want 2", off)
	}

	// Without follow: the stored entries, then the end.
	s, err := c.TailLogs(as(ctx, "bob"), &logsv1.TailLogsRequest{Name: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := recvAll(s)
	if want := []entry{{1, "step 1"}, {2, multi}}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("tail = %q, %v; want %q", got, err, want)
	}

	// With follow: stored entries, then live ones until the log finishes.
	f, err := c.TailLogs(as(ctx, "bob"), &logsv1.TailLogsRequest{Name: "deploy", Follow: true, AfterOffset: 1})
	if err != nil {
		t.Fatal(err)
	}
	if md, err := f.Header(); err != nil || md == nil {
		t.Fatalf("Header of a following tail = %v, %v; want headers", md, err)
	}
	if got := recv(t, f, 1); got[0] != (entry{2, multi}) {
		t.Fatalf("first followed entry %q", got)
	}
	mustAppend(ctx, t, c, "alice", "deploy", "step 3", false)
	if got := recv(t, f, 1); got[0] != (entry{3, "step 3"}) {
		t.Fatalf("live entry %q", got)
	}
	mustAppend(ctx, t, c, "alice", "deploy", "done", true)
	got, err = recvAll(f)
	if want := []entry{{4, "done"}}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("after finish: %q, %v; want %q then the end", got, err, want)
	}

	_, err = c.Append(as(ctx, "alice"), &logsv1.AppendRequest{Name: "deploy", Text: "late"})
	wantCode(t, err, codes.FailedPrecondition)

	list, err := c.ListLogs(as(ctx, "carol"), &logsv1.ListLogsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if l := list.GetLogs(); len(l) != 1 || l[0].GetName() != "deploy" || l[0].GetLastOffset() != 4 || !l[0].GetFinished() {
		t.Errorf("ListLogs = %v", l)
	}
}

func TestFinishWithoutText(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := start(t, t.TempDir()).client
	mustAppend(ctx, t, c, "alice", "x", "only", false)
	if off := mustAppend(ctx, t, c, "alice", "x", "", true); off != 1 {
		t.Errorf("finishing without text returned offset %d, want the last entry's, 1", off)
	}
	if got, err := tailAll(ctx, t, c, "alice", &logsv1.TailLogsRequest{Name: "x", Follow: true}); err != nil || !slices.Equal(got, []entry{{1, "only"}}) {
		t.Errorf("tail = %q, %v", got, err)
	}
}

// A reader at the end of a log that will send nothing gets a trailers-only
// OK: no headers, no message, io.EOF. That is how the gateway knows to answer
// 204 and stop the browser from reconnecting.
func TestTailAtEndIsTrailersOnly(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := start(t, t.TempDir()).client
	mustAppend(ctx, t, c, "alice", "open", "a", false)
	mustAppend(ctx, t, c, "alice", "open", "b", false)
	mustAppend(ctx, t, c, "alice", "done", "a", true)

	tests := []struct {
		name string
		req  *logsv1.TailLogsRequest
		md   []string
	}{
		{"finished log, offset at its end", &logsv1.TailLogsRequest{Name: "done", Follow: true, AfterOffset: 1}, nil},
		{"finished log, Last-Event-ID at its end", &logsv1.TailLogsRequest{Name: "done", Follow: true}, []string{"last-event-id", "1"}},
		{"no follow, nothing after the offset", &logsv1.TailLogsRequest{Name: "open", AfterOffset: 2}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := as(ctx, "bob")
			if tt.md != nil {
				ctx = metadata.AppendToOutgoingContext(ctx, tt.md...)
			}
			s, err := c.TailLogs(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			md, err := s.Header()
			if md != nil || err != nil {
				t.Errorf("Header = %v, %v; want nil, nil (trailers-only)", md, err)
			}
			if got, err := recvAll(s); err != nil || len(got) != 0 {
				t.Errorf("Recv = %q, %v; want io.EOF at once", got, err)
			}
		})
	}

	// Following an open log from its end sends headers at once, before any
	// entry exists to send.
	s, err := c.TailLogs(as(ctx, "bob"), &logsv1.TailLogsRequest{Name: "open", Follow: true, AfterOffset: 2})
	if err != nil {
		t.Fatal(err)
	}
	if md, err := s.Header(); md == nil || err != nil {
		t.Fatalf("Header = %v, %v; want headers before any entry", md, err)
	}
	mustAppend(ctx, t, c, "alice", "open", "c", false)
	if got := recv(t, s, 1); got[0] != (entry{3, "c"}) {
		t.Errorf("got %q", got)
	}
}

func TestResumeByMetadata(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := start(t, t.TempDir()).client
	for _, s := range []string{"a", "b", "c"} {
		mustAppend(ctx, t, c, "alice", "x", s, false)
	}
	tests := []struct {
		field uint64
		md    string
		want  []entry
	}{
		{0, "1", []entry{{2, "b"}, {3, "c"}}},
		{2, "1", []entry{{3, "c"}}}, // the field wins
		{0, "", []entry{{1, "a"}, {2, "b"}, {3, "c"}}},
	}
	for _, tt := range tests {
		ctx := metadata.AppendToOutgoingContext(as(ctx, "bob"), "last-event-id", tt.md)
		s, err := c.TailLogs(ctx, &logsv1.TailLogsRequest{Name: "x", AfterOffset: tt.field})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := recvAll(s); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("field %d, metadata %q: %q, %v; want %q", tt.field, tt.md, got, err, tt.want)
		}
	}
}

func TestJobLogsAreTheOwnersOnly(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := start(t, t.TempDir()).client
	mustAppend(ctx, t, c, "alice", "job-abc", "started", false)
	mustAppend(ctx, t, c, "alice", "shared", "hello", false)

	for _, user := range []string{"alice", "bob"} {
		list, err := c.ListLogs(as(ctx, user), &logsv1.ListLogsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range list.GetLogs() {
			names = append(names, l.GetName())
		}
		want := []string{"shared"}
		if user == "alice" {
			want = []string{"job-abc", "shared"}
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s lists %v, want %v", user, names, want)
		}
	}
	if got, err := tailAll(ctx, t, c, "alice", &logsv1.TailLogsRequest{Name: "job-abc"}); err != nil || len(got) != 1 {
		t.Errorf("owner's tail = %q, %v", got, err)
	}
	if _, err := tailAll(ctx, t, c, "bob", &logsv1.TailLogsRequest{Name: "job-abc"}); status.Code(err) != codes.NotFound {
		t.Errorf("another user's tail: %v, want NotFound", err)
	}
	// The gateway, calling as itself for a shared tail, reads every log
	// (each browser was let in by a tail of its own) and writes none.
	if got, err := tailAll(ctx, t, c, identity.GatewaySubject, &logsv1.TailLogsRequest{Name: "job-abc"}); err != nil || len(got) != 1 {
		t.Errorf("the gateway's tail = %q, %v", got, err)
	}
	for _, name := range []string{"job-abc", "shared", "new"} {
		_, err := c.Append(as(ctx, identity.GatewaySubject), &logsv1.AppendRequest{Name: name, Text: "x"})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("the gateway appends to %s: %v, want PermissionDenied", name, err)
		}
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := start(t, t.TempDir()).client
	mustAppend(ctx, t, c, "alice", "job-abc", "started", false)
	mustAppend(ctx, t, c, "alice", "mine", "hello", false)
	mustAppend(ctx, t, c, "alice", "ended", "bye", true)

	appends := []struct {
		name string
		user string
		req  *logsv1.AppendRequest
		code codes.Code
	}{
		{"empty name", "alice", &logsv1.AppendRequest{Name: "", Text: "x"}, codes.InvalidArgument},
		{"slash", "alice", &logsv1.AppendRequest{Name: "a/b", Text: "x"}, codes.InvalidArgument},
		{"dot dot", "alice", &logsv1.AppendRequest{Name: "..", Text: "x"}, codes.InvalidArgument},
		{"space", "alice", &logsv1.AppendRequest{Name: "a b", Text: "x"}, codes.InvalidArgument},
		{"non-ASCII letter", "alice", &logsv1.AppendRequest{Name: "lög", Text: "x"}, codes.InvalidArgument},
		{"name too long", "alice", &logsv1.AppendRequest{Name: strings.Repeat("a", 129), Text: "x"}, codes.InvalidArgument},
		{"text too long", "alice", &logsv1.AppendRequest{Name: "a", Text: strings.Repeat("x", logs.MaxTextLen+1)}, codes.InvalidArgument},
		{"empty text", "alice", &logsv1.AppendRequest{Name: "a"}, codes.InvalidArgument},
		{"another user's log", "bob", &logsv1.AppendRequest{Name: "mine", Text: "x"}, codes.PermissionDenied},
		{"another user's job log", "bob", &logsv1.AppendRequest{Name: "job-abc", Text: "x"}, codes.NotFound},
		{"finished log", "alice", &logsv1.AppendRequest{Name: "ended", Text: "x"}, codes.FailedPrecondition},
		{"no principal", "", &logsv1.AppendRequest{Name: "a", Text: "x"}, codes.Unauthenticated},
	}
	for _, tt := range appends {
		t.Run("Append/"+tt.name, func(t *testing.T) {
			t.Parallel()
			cctx := ctx
			if tt.user != "" {
				cctx = as(ctx, tt.user)
			}
			_, err := c.Append(cctx, tt.req)
			wantCode(t, err, tt.code)
		})
	}
	if _, err := c.Append(as(ctx, "alice"), &logsv1.AppendRequest{Name: strings.Repeat("a", 128), Text: "x"}); err != nil {
		t.Errorf("a name of exactly 128 bytes: %v", err)
	}

	tails := []struct {
		name string
		user string
		req  *logsv1.TailLogsRequest
		md   []string
		code codes.Code
	}{
		{"invalid name", "bob", &logsv1.TailLogsRequest{Name: "a/b"}, nil, codes.InvalidArgument},
		{"unknown log", "bob", &logsv1.TailLogsRequest{Name: "nope"}, nil, codes.NotFound},
		{"unknown log, follow", "bob", &logsv1.TailLogsRequest{Name: "nope", Follow: true}, nil, codes.NotFound},
		{"another user's job log", "bob", &logsv1.TailLogsRequest{Name: "job-abc", Follow: true}, nil, codes.NotFound},
		{"offset past the end", "bob", &logsv1.TailLogsRequest{Name: "mine", AfterOffset: 2}, nil, codes.InvalidArgument},
		{"offset past the end of a finished log", "bob", &logsv1.TailLogsRequest{Name: "ended", AfterOffset: 9}, nil, codes.InvalidArgument},
		{"malformed Last-Event-ID", "bob", &logsv1.TailLogsRequest{Name: "mine"}, []string{"last-event-id", "x1"}, codes.InvalidArgument},
		{"Last-Event-ID past the end", "bob", &logsv1.TailLogsRequest{Name: "mine"}, []string{"last-event-id", "7"}, codes.InvalidArgument},
		{"no principal", "", &logsv1.TailLogsRequest{Name: "mine"}, nil, codes.Unauthenticated},
	}
	for _, tt := range tails {
		t.Run("TailLogs/"+tt.name, func(t *testing.T) {
			t.Parallel()
			cctx := ctx
			if tt.user != "" {
				cctx = as(ctx, tt.user)
			}
			if tt.md != nil {
				cctx = metadata.AppendToOutgoingContext(cctx, tt.md...)
			}
			s, err := c.TailLogs(cctx, tt.req)
			if err == nil {
				_, err = recvAll(s)
			}
			wantCode(t, err, tt.code)
		})
	}

	_, err := c.ListLogs(ctx, &logsv1.ListLogsRequest{})
	wantCode(t, err, codes.Unauthenticated)
}

// Entries survive a restart, and a reader resumes after the offset it saw.
func TestRestartKeepsLogs(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	b := start(t, dir)
	mustAppend(ctx, t, b.client, "alice", "x", "before", false)

	// A follower open during the shutdown ends with UNAVAILABLE, so the
	// gateway lets the browser reconnect.
	f, err := b.client.TailLogs(as(ctx, "bob"), &logsv1.TailLogsRequest{Name: "x", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	recv(t, f, 1)
	_ = b.svc.Close()
	_, err = recvAll(f)
	wantCode(t, err, codes.Unavailable)
	b.stop()

	b = start(t, dir)
	if off := mustAppend(ctx, t, b.client, "alice", "x", "after", true); off != 2 {
		t.Errorf("offset after restart %d, want 2", off)
	}
	if got, err := tailAll(ctx, t, b.client, "bob", &logsv1.TailLogsRequest{Name: "x", Follow: true, AfterOffset: 1}); err != nil || !slices.Equal(got, []entry{{2, "after"}}) {
		t.Errorf("resumed tail = %q, %v", got, err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	db, err := store.Open(t.TempDir(), store.WithNoSync(), store.WithPruneInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	tests := map[string]struct {
		st   store.Streams
		opts []logs.Option
	}{
		"nil store":     {nil, nil},
		"zero interval": {db, []logs.Option{logs.WithPollInterval(0)}},
		"nil logger":    {db, []logs.Option{logs.WithLogger(nil)}},
	}
	for name, tt := range tests {
		if svc, err := logs.New(tt.st, tt.opts...); err == nil {
			_ = svc.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
}
