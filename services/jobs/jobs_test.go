package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ssegate/ssegate/services/jobs"
	"github.com/ssegate/ssegate/services/store"

	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

func TestJobCountsPrimes(t *testing.T) {
	t.Parallel()
	b := start(t, t.TempDir(), "", append(fast(), jobs.WithChunkSize(1<<16))...)
	tests := []struct {
		limit          uint32
		count, largest uint32
	}{
		{2, 0, 0},
		{3, 1, 2},
		{100, 25, 97},
		{1_000_000, 78_498, 999_983},
		{10_000_000, 664_579, 9_999_991},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.limit), func(t *testing.T) {
			t.Parallel()
			// Its own: parallel subtests may wait for others before they run.
			ctx := testContext(t)
			job := create(ctx, t, b.client, "alice", tt.limit)
			if job.GetState() != jobsv1.JobState_JOB_STATE_RUNNING || job.GetLimit() != tt.limit || job.GetOwner() != "alice" {
				t.Errorf("created %v", job)
			}
			events, err := recvAll(watch(ctx, t, b.client, "alice", job.GetId(), 0))
			if err != nil {
				t.Fatal(err)
			}
			checkSequence(t, events, 1)
			// A start banner of several lines, one event.
			if banner := events[0].GetLog(); !strings.Contains(banner, "started by alice\n") || strings.Count(banner, "\n") < 2 {
				t.Errorf("first event %v, want a multi-line start banner", events[0])
			}
			last := events[len(events)-1].GetCompleted()
			if last.GetCount() != tt.count || last.GetLargest() != tt.largest {
				t.Errorf("completed %v, want count %d largest %d", last, tt.count, tt.largest)
			}
			p := events[len(events)-4].GetProgress()
			if p.GetDone() != tt.limit || p.GetTotal() != tt.limit || p.GetPercent() != 100 {
				t.Errorf("last progress %v, want all done", p)
			}
			got, err := b.client.GetJob(as(ctx, "alice"), &jobsv1.GetJobRequest{Id: job.GetId()})
			if err != nil {
				t.Fatal(err)
			}
			if j := got.GetJob(); j.GetState() != jobsv1.JobState_JOB_STATE_COMPLETED || j.GetCount() != tt.count {
				t.Errorf("GetJob = %v", j)
			}
		})
	}
}

// Watchers that come at different times, one of them after the end, all get
// the same events: the history after their resume point, then live ones.
func TestManyWatchersSeeTheSameEvents(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := start(t, t.TempDir(), "", paced(3*time.Millisecond)...)
	job := create(ctx, t, b.client, "alice", 6_000_000) // 92 chunks: about 0.3 s

	const watchers = 20
	results := make([][]*jobsv1.WatchJobResponse, watchers)
	errs := make([]error, watchers)
	var wg sync.WaitGroup
	first := watch(ctx, t, b.client, "alice", job.GetId(), 0)
	// Half the watchers come at once, half after the job has got going.
	var early []*jobsv1.WatchJobResponse
	for i := 1; i < watchers; i++ {
		if i == watchers/2 {
			early = recvUntil(t, first, func(m *jobsv1.WatchJobResponse) bool { return m.GetId() >= 8 })
		}
		s := watch(ctx, t, b.client, "alice", job.GetId(), 0)
		wg.Go(func() { results[i], errs[i] = recvAll(s) })
	}
	rest, err := recvAll(first)
	results[0], errs[0] = append(early, rest...), err
	wg.Wait()
	late, err := recvAll(watch(ctx, t, b.client, "alice", job.GetId(), 0))
	if err != nil {
		t.Fatal(err)
	}
	checkSequence(t, late, 1)
	if late[len(late)-1].GetCompleted().GetCount() != 412_849 {
		t.Fatalf("completed %v, want 412849 primes below 6000000", late[len(late)-1])
	}
	for i := range watchers {
		if errs[i] != nil {
			t.Fatalf("watcher %d: %v", i, errs[i])
		}
		if len(results[i]) != len(late) {
			t.Fatalf("watcher %d got %d events, the history has %d", i, len(results[i]), len(late))
		}
		for j := range late {
			if !proto.Equal(results[i][j], late[j]) {
				t.Fatalf("watcher %d event %d = %v, history has %v", i, j, results[i][j], late[j])
			}
		}
	}

	// Resuming in the middle gives exactly the rest.
	mid := late[len(late)/2].GetId()
	rest, err = recvAll(watch(ctx, t, b.client, "alice", job.GetId(), mid))
	if err != nil {
		t.Fatal(err)
	}
	checkSequence(t, rest, mid+1)
	if len(rest) != len(late)-int(mid) {
		t.Errorf("resumed after %d: %d events, want %d", mid, len(rest), len(late)-int(mid))
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := start(t, t.TempDir(), "", paced(20*time.Millisecond)...)
	job := create(ctx, t, b.client, "alice", jobs.MaxLimit) // would take hours
	s := watch(ctx, t, b.client, "alice", job.GetId(), 0)
	recvUntil(t, s, func(m *jobsv1.WatchJobResponse) bool { return m.GetProgress() != nil })

	began := time.Now()
	resp, err := b.client.CancelJob(as(ctx, "alice"), &jobsv1.CancelJobRequest{Id: job.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("CancelJob took %v", took)
	}
	if j := resp.GetJob(); j.GetState() != jobsv1.JobState_JOB_STATE_CANCELLED || j.GetCount() != 0 {
		t.Errorf("CancelJob = %v, want cancelled", j)
	}
	rest, err := recvAll(s)
	if err != nil {
		t.Fatal(err)
	}
	last := rest[len(rest)-1]
	if last.GetCancelled().GetBy() != "alice" {
		t.Fatalf("last event %v, want cancelled by alice", last)
	}
	if line := rest[len(rest)-2].GetLog(); !strings.HasPrefix(line, "cancelled by alice") {
		t.Errorf("line before the end %q", line)
	}

	// Cancelling again, or cancelling a finished job, changes nothing.
	again, err := b.client.CancelJob(as(ctx, "alice"), &jobsv1.CancelJobRequest{Id: job.GetId()})
	if err != nil || !proto.Equal(again.GetJob(), resp.GetJob()) {
		t.Errorf("second cancel = %v, %v; want %v", again.GetJob(), err, resp.GetJob())
	}
	small := create(ctx, t, b.client, "alice", 100)
	if _, err := recvAll(watch(ctx, t, b.client, "alice", small.GetId(), 0)); err != nil {
		t.Fatal(err)
	}
	c, err := b.client.CancelJob(as(ctx, "alice"), &jobsv1.CancelJobRequest{Id: small.GetId()})
	if err != nil || c.GetJob().GetState() != jobsv1.JobState_JOB_STATE_COMPLETED || c.GetJob().GetCount() != 25 {
		t.Errorf("cancel of a completed job = %v, %v", c.GetJob(), err)
	}
}

// The backend stops in the middle of a job and a new one starts on the same
// store: the job goes on from its checkpoint, and a watcher resuming after
// the last id it saw gets the rest, with no gap and no repeat.
func TestRestartMidJob(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	b := start(t, dir, "", paced(2*time.Millisecond)...)
	job := create(ctx, t, b.client, "alice", 10_000_000) // 153 chunks
	s := watch(ctx, t, b.client, "alice", job.GetId(), 0)
	before := recvUntil(t, s, func(m *jobsv1.WatchJobResponse) bool {
		return m.GetProgress().GetPercent() > 20
	})
	b.stop()
	_, err := recvAll(s)
	if code := status.Code(err); code != codes.Unavailable && code != codes.Canceled {
		t.Errorf("watch during the shutdown ended with %v, want UNAVAILABLE", err)
	}

	b = start(t, dir, "", paced(time.Millisecond)...)
	lastSeen := before[len(before)-1].GetId()
	after, err := recvAll(watch(ctx, t, b.client, "alice", job.GetId(), lastSeen))
	if err != nil {
		t.Fatal(err)
	}
	all := append(before, after...)
	checkSequence(t, all, 1)
	if c := all[len(all)-1].GetCompleted(); c.GetCount() != 664_579 || c.GetLargest() != 9_999_991 {
		t.Errorf("completed %v after a restart, want 664579 primes", c)
	}
	resumed := slices.ContainsFunc(after, func(m *jobsv1.WatchJobResponse) bool {
		return strings.Contains(m.GetLog(), "resumed after a restart")
	})
	if !resumed {
		t.Error("no log line says the job resumed")
	}
	// The history read from the start is the same sequence.
	history, err := recvAll(watch(ctx, t, b.client, "alice", job.GetId(), 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(history) != len(all) {
		t.Errorf("history has %d events, the watcher got %d", len(history), len(all))
	}
	// The job log in the logs service has every line once; the shipping
	// resumed where it stopped.
	got := shippedLog(ctx, t, b.logsClient, job.GetId())
	if want := logLines(all); !slices.Equal(got, want) {
		t.Errorf("job log after a restart = %q, want %q", got, want)
	}
}

// logLines returns the log lines among events.
func logLines(events []*jobsv1.WatchJobResponse) []string {
	var out []string
	for _, m := range events {
		if m.GetLog() != "" {
			out = append(out, m.GetLog())
		}
	}
	return out
}

// shippedLog waits until the log of job id is finished in the logs
// service, and returns its entries.
func shippedLog(ctx context.Context, t *testing.T, logsClient logsv1.LogServiceClient, id string) []string {
	t.Helper()
	req := &logsv1.TailLogsRequest{Name: jobs.LogName(id), Follow: true}
	for {
		s, err := logsClient.TailLogs(as(ctx, "alice"), req)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			m, err := s.Recv()
			if errors.Is(err, io.EOF) {
				return got
			}
			if status.Code(err) == codes.NotFound && got == nil {
				break // not created yet: the shipping is behind
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m.GetText())
		}
		select {
		case <-ctx.Done():
			t.Fatal("the job log never appeared")
		case <-time.After(time.Millisecond):
		}
	}
}

// A watcher that resumes after the terminal event gets a trailers-only OK:
// no headers, no message, io.EOF, which the gateway answers with 204.
func TestWatchAfterTheEndIsTrailersOnly(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := start(t, t.TempDir(), "", fast()...)
	job := create(ctx, t, b.client, "alice", 1000)
	events, err := recvAll(watch(ctx, t, b.client, "alice", job.GetId(), 0))
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1].GetId()

	for _, byMetadata := range []bool{false, true} {
		cctx, req := as(ctx, "alice"), &jobsv1.WatchJobRequest{Id: job.GetId(), AfterId: last}
		if byMetadata {
			cctx = metadata.AppendToOutgoingContext(cctx, "last-event-id", fmt.Sprint(last))
			req.AfterId = 0
		}
		s, err := b.client.WatchJob(cctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if md, err := s.Header(); md != nil || err != nil {
			t.Errorf("by metadata %v: Header = %v, %v; want nil, nil", byMetadata, md, err)
		}
		if got, err := recvAll(s); len(got) != 0 || err != nil {
			t.Errorf("by metadata %v: Recv = %v, %v; want io.EOF at once", byMetadata, got, err)
		}
	}
	// One event before the end: headers, that event, the end.
	s := watch(ctx, t, b.client, "alice", job.GetId(), last-1)
	if md, err := s.Header(); md == nil || err != nil {
		t.Errorf("Header = %v, %v; want headers", md, err)
	}
	if got, err := recvAll(s); len(got) != 1 || err != nil || !isTerminal(got[0]) {
		t.Errorf("Recv = %v, %v; want the terminal event", got, err)
	}
}

// A watch sends its headers as soon as it is accepted, before any event
// exists to send, so the gateway can commit 200 at once.
func TestWatchSendsHeadersFirst(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := start(t, t.TempDir(), "", jobs.WithChunkSize(1<<16), jobs.WithMinChunkDuration(time.Hour))
	job := create(ctx, t, b.client, "alice", 1_000_000)
	s := watch(ctx, t, b.client, "alice", job.GetId(), 0)
	first := recvUntil(t, s, func(m *jobsv1.WatchJobResponse) bool { return m.GetPartial() != nil })
	// The job now waits an hour before its next chunk: from the last id
	// there is nothing to send.
	s = watch(ctx, t, b.client, "alice", job.GetId(), first[len(first)-1].GetId())
	got := make(chan error, 1)
	go func() {
		md, err := s.Header()
		if md == nil && err == nil {
			err = fmt.Errorf("no headers")
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no headers before the first event")
	}
	if _, err := b.client.CancelJob(as(ctx, "alice"), &jobsv1.CancelJobRequest{Id: job.GetId()}); err != nil {
		t.Fatal(err)
	}
	rest, err := recvAll(s)
	if err != nil || len(rest) != 2 || rest[1].GetCancelled() == nil {
		t.Errorf("after cancel: %v, %v", rest, err)
	}
}

// The job's log lines go to the logs service, as the job's creator, into
// the log job-<id>, which ends when the job does.
func TestJobLogIsWrittenToTheLogsService(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := start(t, t.TempDir(), "", fast()...)
	job := create(ctx, t, b.client, "alice", 1_000_000)
	events, err := recvAll(watch(ctx, t, b.client, "alice", job.GetId(), 0))
	if err != nil {
		t.Fatal(err)
	}
	got := shippedLog(ctx, t, b.logsClient, job.GetId())
	if want := logLines(events); !slices.Equal(got, want) {
		t.Errorf("job log = %q, want the job's lines %q", got, want)
	}
	s, err := b.logsClient.TailLogs(as(ctx, "bob"), &logsv1.TailLogsRequest{Name: jobs.LogName(job.GetId())})
	if err == nil {
		_, err = s.Recv()
	}
	wantCode(t, err, codes.NotFound) // another user's job log
}

// With the logs service out of reach the job still runs to its end, and the
// shipping says that it is trying again.
func TestJobRunsWithoutTheLogsService(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	logged := &logRecorder{}
	b := start(t, t.TempDir(), "127.0.0.1:1", append(fast(),
		jobs.WithLogTimeout(50*time.Millisecond), jobs.WithLogger(slog.New(logged)))...)
	job := create(ctx, t, b.client, "alice", 100_000)
	events, err := recvAll(watch(ctx, t, b.client, "alice", job.GetId(), 0))
	if err != nil {
		t.Fatal(err)
	}
	if c := events[len(events)-1].GetCompleted(); c.GetCount() != 9_592 {
		t.Errorf("completed %v, want 9592 primes", c)
	}
	logged.wait(ctx, t, "jobs: job log line not shipped; trying again")
}

// A watcher that reads nothing holds up neither the job nor other watchers,
// and later gets every event, in order.
func TestStalledWatcher(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := start(t, t.TempDir(), "", jobs.WithChunkSize(1<<12), jobs.WithMinChunkDuration(0), jobs.WithProgressInterval(0))
	job := create(ctx, t, b.client, "alice", 14_000_000)
	stalled := watch(ctx, t, b.client, "alice", job.GetId(), 0)
	events, err := recvAll(watch(ctx, t, b.client, "alice", job.GetId(), 0))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(events); n < 5_000 { // far more than gRPC's flow-control window holds
		t.Fatalf("only %d events", n)
	}
	late, err := recvAll(stalled)
	if err != nil {
		t.Fatal(err)
	}
	if len(late) != len(events) {
		t.Fatalf("the stalled watcher got %d events, want %d", len(late), len(events))
	}
	checkSequence(t, late, 1)
}

func TestListJobs(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := start(t, t.TempDir(), "", fast()...)
	var ids []string
	for _, limit := range []uint32{10, 20, 30} {
		ids = append(ids, create(ctx, t, b.client, "alice", limit).GetId())
		time.Sleep(time.Millisecond) // distinct creation times
	}
	create(ctx, t, b.client, "bob", 40)
	resp, err := b.client.ListJobs(as(ctx, "alice"), &jobsv1.ListJobsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range resp.GetJobs() {
		got = append(got, j.GetId())
	}
	slices.Reverse(ids)
	if !slices.Equal(got, ids) {
		t.Errorf("ListJobs = %v, want alice's jobs newest first %v", got, ids)
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := start(t, t.TempDir(), "", fast()...)
	c := b.client
	job := create(ctx, t, c, "alice", 1000)
	if _, err := recvAll(watch(ctx, t, c, "alice", job.GetId(), 0)); err != nil {
		t.Fatal(err)
	}
	id := job.GetId()
	unknown := strings.Repeat("z", len(id))

	creates := []struct {
		limit uint32
		code  codes.Code
	}{
		{1, codes.InvalidArgument},
		{jobs.MaxLimit + 1, codes.InvalidArgument},
		{^uint32(0), codes.InvalidArgument},
	}
	for _, tt := range creates {
		_, err := c.CreateJob(as(ctx, "alice"), &jobsv1.CreateJobRequest{Limit: tt.limit})
		wantCode(t, err, tt.code)
	}

	ids := []struct {
		name, user, id string
		code           codes.Code
	}{
		{"empty id", "alice", "", codes.InvalidArgument},
		{"bad characters", "alice", "a/b", codes.InvalidArgument},
		{"too long", "alice", strings.Repeat("a", 65), codes.InvalidArgument},
		{"unknown", "alice", unknown, codes.NotFound},
		{"another user's", "bob", id, codes.NotFound},
		{"no principal", "", id, codes.Unauthenticated},
	}
	for _, tt := range ids {
		t.Run(tt.name, func(t *testing.T) {
			cctx := ctx
			if tt.user != "" {
				cctx = as(ctx, tt.user)
			}
			_, err := c.GetJob(cctx, &jobsv1.GetJobRequest{Id: tt.id})
			wantCode(t, err, tt.code)
			_, err = c.CancelJob(cctx, &jobsv1.CancelJobRequest{Id: tt.id})
			wantCode(t, err, tt.code)
			s, err := c.WatchJob(cctx, &jobsv1.WatchJobRequest{Id: tt.id})
			if err == nil {
				_, err = recvAll(s)
			}
			wantCode(t, err, tt.code)
			if tt.code == codes.NotFound {
				// Another user's job reads exactly like a missing one.
				if msg, want := status.Convert(err).Message(), fmt.Sprintf("job %q not found", tt.id); msg != want {
					t.Errorf("message %q, want %q", msg, want)
				}
			}
		})
	}

	watches := []struct {
		name string
		req  *jobsv1.WatchJobRequest
		md   string
	}{
		{"after_id past the end", &jobsv1.WatchJobRequest{Id: id, AfterId: 1 << 40}, ""},
		{"Last-Event-ID past the end", &jobsv1.WatchJobRequest{Id: id}, "999999"},
		{"malformed Last-Event-ID", &jobsv1.WatchJobRequest{Id: id}, "12abc"},
		{"negative Last-Event-ID", &jobsv1.WatchJobRequest{Id: id}, "-1"},
	}
	for _, tt := range watches {
		t.Run(tt.name, func(t *testing.T) {
			cctx := as(ctx, "alice")
			if tt.md != "" {
				cctx = metadata.AppendToOutgoingContext(cctx, "last-event-id", tt.md)
			}
			s, err := c.WatchJob(cctx, tt.req)
			if err == nil {
				_, err = recvAll(s)
			}
			wantCode(t, err, codes.InvalidArgument)
		})
	}

	_, err := c.CreateJob(ctx, &jobsv1.CreateJobRequest{Limit: 10})
	wantCode(t, err, codes.Unauthenticated)
	_, err = c.ListJobs(ctx, &jobsv1.ListJobsRequest{})
	wantCode(t, err, codes.Unauthenticated)
}

// Limit 0 takes the default.
func TestDefaultLimit(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := start(t, t.TempDir(), "")
	job := create(ctx, t, b.client, "alice", 0)
	if job.GetLimit() != jobs.DefaultLimit {
		t.Errorf("limit %d, want the default %d", job.GetLimit(), jobs.DefaultLimit)
	}
	resp, err := b.client.CancelJob(as(ctx, "alice"), &jobsv1.CancelJobRequest{Id: job.GetId()})
	if err != nil || resp.GetJob().GetState() != jobsv1.JobState_JOB_STATE_CANCELLED {
		t.Errorf("cancel = %v, %v", resp.GetJob(), err)
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
		opts []jobs.Option
	}{
		"nil store":          {nil, nil},
		"chunk of 1":         {db, []jobs.Option{jobs.WithChunkSize(1)}},
		"huge chunk":         {db, []jobs.Option{jobs.WithChunkSize(1 << 30)}},
		"negative pacing":    {db, []jobs.Option{jobs.WithMinChunkDuration(-time.Second)}},
		"zero log timeout":   {db, []jobs.Option{jobs.WithLogTimeout(0)}},
		"zero retry wait":    {db, []jobs.Option{jobs.WithLogRetry(0, time.Second)}},
		"retry cap too low":  {db, []jobs.Option{jobs.WithLogRetry(time.Second, time.Millisecond)}},
		"nil clock":          {db, []jobs.Option{jobs.WithClock(nil)}},
		"nil logger":         {db, []jobs.Option{jobs.WithLogger(nil)}},
		"negative intervals": {db, []jobs.Option{jobs.WithProgressInterval(-1)}},
		"negative cap":       {db, []jobs.Option{jobs.WithMaxRunningPerUser(-1)}},
	}
	for name, tt := range tests {
		if svc, err := jobs.New(tt.st, nil, tt.opts...); err == nil {
			_ = svc.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
}
