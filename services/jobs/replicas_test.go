package jobs_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ssegate/ssegate/services/jobs"
	"github.com/ssegate/ssegate/services/logs"
	"github.com/ssegate/ssegate/services/store"
	"github.com/ssegate/ssegate/services/store/natsstore"
	"github.com/ssegate/ssegate/services/store/natsstore/natstest"
	"github.com/ssegate/ssegate/services/store/storerpc/rpctest"

	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

// leaseTTL is the replicas' lease time in these tests: a job whose
// replica died is taken over within about one and a half of it.
const leaseTTL = 2 * time.Second

var prefixes atomic.Int64

// replica is one replica of the jobs and logs services on a shared NATS
// history, served on loopback; its jobs ship their logs to its own logs
// service.
type replica struct {
	name   string
	st     *natsstore.Store
	jobs   *jobs.Service
	logs   *logs.Service
	srv    *grpc.Server
	conns  []*grpc.ClientConn
	client jobsv1.JobServiceClient
	logsC  logsv1.LogServiceClient
	down   bool
}

// history returns a new history on the server at url, for replicas.
func history(url string) string { return fmt.Sprintf("%s|jobs%d", url, prefixes.Add(1)) }

func startReplica(t *testing.T, hist, name string, opts ...jobs.Option) *replica {
	t.Helper()
	url, prefix, _ := strings.Cut(hist, "|")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := natsstore.Open(ctx, url, natsstore.WithPrefix(prefix), natsstore.WithReplicas(1), natsstore.WithPruneInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dial := append(rpctest.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()), quickReconnect())
	conn, err := grpc.NewClient(lis.Addr().String(), dial...)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := logs.New(st)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jobs.New(st, logsv1.NewLogServiceClient(conn), append([]jobs.Option{jobs.WithLeases(st, name, leaseTTL)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(rpctest.ServerOptions()...)
	jobsv1.RegisterJobServiceServer(srv, js)
	logsv1.RegisterLogServiceServer(srv, ls)
	go func() { _ = srv.Serve(lis) }()
	r := &replica{name: name, st: st, jobs: js, logs: ls, srv: srv, conns: []*grpc.ClientConn{conn},
		client: jobsv1.NewJobServiceClient(conn), logsC: logsv1.NewLogServiceClient(conn)}
	t.Cleanup(r.stop)
	return r
}

// stop closes the replica as a process that stops does: the services give
// their leases up, then the store closes.
func (r *replica) stop() {
	if r.down {
		return
	}
	r.down = true
	_ = r.jobs.Close()
	_ = r.logs.Close()
	r.srv.Stop()
	for _, c := range r.conns {
		_ = c.Close()
	}
	_ = r.st.Close()
}

// crash stops the replica as a process that dies does: the store goes
// first, so nothing more is written (no lease given up, no checkpoint).
func (r *replica) crash() {
	_ = r.st.Close()
	r.stop()
}

func newServer(t *testing.T) string { return natstest.Start(t).URL }

// A watcher on one replica follows a job that another runs, to its end;
// both list it; a cancel through the replica that does not run the job
// ends it there, once.
func TestReplicasShareJobs(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	hist := history(newServer(t))
	a, b := startReplica(t, hist, "a", paced(time.Millisecond)...), startReplica(t, hist, "b", paced(time.Millisecond)...)

	job := create(ctx, t, a.client, "alice", 10_000_000)
	events, err := recvAll(watch(ctx, t, b.client, "alice", job.GetId(), 0))
	if err != nil {
		t.Fatal(err)
	}
	checkSequence(t, events, 1)
	if c := events[len(events)-1].GetCompleted(); c.GetCount() != 664_579 {
		t.Fatalf("completed %v, want 664579 primes", c)
	}
	for _, r := range []*replica{a, b} {
		l, err := r.client.ListJobs(as(ctx, "alice"), &jobsv1.ListJobsRequest{})
		if err != nil || len(l.GetJobs()) != 1 || l.GetJobs()[0].GetState() != jobsv1.JobState_JOB_STATE_COMPLETED {
			t.Errorf("ListJobs on %s = %v, %v", r.name, l, err)
		}
	}
	if got, want := shippedLog(ctx, t, b.logsC, job.GetId()), logLines(events); !slices.Equal(got, want) {
		t.Errorf("job log = %q, want %q", got, want)
	}

	slow := create(ctx, t, a.client, "alice", 100_000_000) // about 30 s at this pace
	s := watch(ctx, t, a.client, "alice", slow.GetId(), 0)
	recvUntil(t, s, func(m *jobsv1.WatchJobResponse) bool { return m.GetProgress().GetDone() > 0 })
	resp, err := b.client.CancelJob(as(ctx, "alice"), &jobsv1.CancelJobRequest{Id: slow.GetId()})
	if err != nil || resp.GetJob().GetState() != jobsv1.JobState_JOB_STATE_CANCELLED {
		t.Fatalf("CancelJob through the other replica = %v, %v", resp, err)
	}
	rest, err := recvAll(s)
	if err != nil {
		t.Fatal(err)
	}
	all, err := recvAll(watch(ctx, t, b.client, "alice", slow.GetId(), 0))
	if err != nil {
		t.Fatal(err)
	}
	checkSequence(t, all, 1)
	if all[len(all)-1].GetCancelled().GetBy() != "alice" || rest[len(rest)-1].GetId() != all[len(all)-1].GetId() {
		t.Errorf("ends with %v; the watcher on the running replica ended at %d", all[len(all)-1], rest[len(rest)-1].GetId())
	}
}

// A running job whose replica dies is taken over by the other from its
// checkpoint: a watcher that resumes on the other replica gets every event
// once, one end, the right count, and the job log is whole.
func TestTakeOverFromADeadReplica(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// kill stops replica a: as a crash (its lease lapses), or as a
		// stop (it gives the lease up).
		kill func(*replica)
	}{
		{"crash", (*replica).crash},
		{"stop", (*replica).stop},
	}
	url := newServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			hist := history(url)
			a, b := startReplica(t, hist, "a", paced(5*time.Millisecond)...), startReplica(t, hist, "b", paced(time.Millisecond)...)
			job := create(ctx, t, a.client, "alice", 10_000_000) // 153 chunks: about 1 s on a
			before := recvUntil(t, watch(ctx, t, b.client, "alice", job.GetId(), 0), func(m *jobsv1.WatchJobResponse) bool {
				return m.GetProgress().GetPercent() > 20
			})
			tt.kill(a)
			after, err := recvAll(watch(ctx, t, b.client, "alice", job.GetId(), before[len(before)-1].GetId()))
			if err != nil {
				t.Fatal(err)
			}
			all := append(before, after...)
			checkSequence(t, all, 1)
			if c := all[len(all)-1].GetCompleted(); c.GetCount() != 664_579 || c.GetLargest() != 9_999_991 {
				t.Errorf("completed %v after the takeover, want 664579 primes", c)
			}
			if !slices.ContainsFunc(after, func(m *jobsv1.WatchJobResponse) bool {
				return strings.Contains(m.GetLog(), "resumed by replica b")
			}) {
				t.Error("no log line says replica b resumed the job")
			}
			history, err := recvAll(watch(ctx, t, b.client, "alice", job.GetId(), 0))
			if err != nil || len(history) != len(all) {
				t.Errorf("history has %d events (%v), the watcher got %d", len(history), err, len(all))
			}
			if got, want := shippedLog(ctx, t, b.logsC, job.GetId()), logLines(all); !slices.Equal(got, want) {
				t.Errorf("job log after the takeover = %q, want %q", got, want)
			}
		})
	}
}

// A worker whose term has passed (its replica lost the lease without
// knowing it, and another took the job over) writes nothing more: the job
// still ends once, with the right count.
func TestAWorkerOutOfTermWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	hist := history(newServer(t))
	a := startReplica(t, hist, "a", paced(5*time.Millisecond)...)
	job := create(ctx, t, a.client, "alice", 10_000_000)
	s := watch(ctx, t, a.client, "alice", job.GetId(), 0)
	before := recvUntil(t, s, func(m *jobsv1.WatchJobResponse) bool { return m.GetProgress().GetPercent() > 20 })
	// What a takeover writes: a new term. a's worker then stops at its
	// next checkpoint; its run ends and gives the lease up, and the job is
	// taken over (here by a itself, the only replica) in the new term.
	if _, err := a.st.Append(ctx, jobs.Namespace, job.GetId(), store.Batch{Update: func(raw []byte) ([]byte, error) {
		return []byte(strings.Replace(string(raw), `"epoch":1`, `"epoch":7`, 1)), nil
	}}); err != nil {
		t.Fatal(err)
	}
	after, err := recvAll(s)
	if err != nil {
		t.Fatal(err)
	}
	all := append(before, after...)
	checkSequence(t, all, 1)
	if c := all[len(all)-1].GetCompleted(); c.GetCount() != 664_579 {
		t.Errorf("completed %v, want 664579 primes", c)
	}
	if !slices.ContainsFunc(after, func(m *jobsv1.WatchJobResponse) bool {
		return strings.Contains(m.GetLog(), "resumed by replica a")
	}) {
		t.Error("the job was not resumed in the new term")
	}
}
