package jobs_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/services/jobs"

	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
)

// A user may have at most the capped number of jobs running; beyond it
// CreateJob is RESOURCE_EXHAUSTED, other users are not concerned, and a
// job that ends makes room. The count comes from the store: a service
// restarted on it counts the jobs it resumed.
func TestRunningJobsPerUserCap(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	opts := append(paced(20*time.Millisecond), jobs.WithMaxRunningPerUser(2))
	b := start(t, dir, "", opts...)
	first := create(ctx, t, b.client, "alice", jobs.MaxLimit) // would take hours
	create(ctx, t, b.client, "alice", jobs.MaxLimit)
	over := func(b *backend) {
		t.Helper()
		_, err := b.client.CreateJob(as(ctx, "alice"), &jobsv1.CreateJobRequest{Limit: 100})
		if status.Code(err) != codes.ResourceExhausted || status.Convert(err).Message() != "2 of your jobs are running, the most allowed: wait for one to end, or cancel one" {
			t.Fatalf("a third running job: %v, want RESOURCE_EXHAUSTED", err)
		}
	}
	over(b)
	create(ctx, t, b.client, "bob", 100) // another user

	b.stop()
	b = start(t, dir, "", opts...)
	over(b)

	if _, err := b.client.CancelJob(as(ctx, "alice"), &jobsv1.CancelJobRequest{Id: first.GetId()}); err != nil {
		t.Fatal(err)
	}
	create(ctx, t, b.client, "alice", 100)
}
