package jobs

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/services/store"
	"github.com/ssegate/ssegate/services/store/storerpc"

	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
)

// maxIDLen bounds job ids; the service makes 26-character ones.
const maxIDLen = 64

func caller(ctx context.Context) (identity.Principal, error) {
	p, ok := identity.FromContext(ctx)
	if !ok || p.Subject == "" {
		return identity.Principal{}, status.Error(codes.Unauthenticated, "sign in to use jobs")
	}
	return p, nil
}

func checkID(id string) error {
	if id == "" {
		return status.Error(codes.InvalidArgument, "job id is required")
	}
	ok := len(id) <= maxIDLen
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
	}
	if !ok {
		return status.Errorf(codes.InvalidArgument, "job id must be at most %d letters, digits, '-' or '_'", maxIDLen)
	}
	return nil
}

// errNotFound answers both a missing job and another user's job, so an id
// tells nothing about jobs that are not the caller's.
func errNotFound(id string) error {
	return status.Errorf(codes.NotFound, "job %q not found", id)
}

// get returns the caller's job id.
func (s *Service) get(ctx context.Context, p identity.Principal, id string) (store.Stream, record, error) {
	j, err := s.st.Get(ctx, Namespace, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && j.Owner != p.Subject) {
		return store.Stream{}, record{}, errNotFound(id)
	}
	if err != nil {
		return store.Stream{}, record{}, s.status(ctx, "jobs: get job", err, id)
	}
	rec, err := decodeRecord(j.Attrs)
	if err != nil {
		return store.Stream{}, record{}, s.status(ctx, "jobs: get job", err, id)
	}
	return j, rec, nil
}

// status maps err for a caller, logging what is not the caller's business.
func (s *Service) status(ctx context.Context, msg string, err error, id string) error {
	return storerpc.LogStatus(ctx, s.cfg.logger, err, msg, "job", id)
}

// CreateJob implements jobsv1.JobServiceServer.
func (s *Service) CreateJob(ctx context.Context, req *jobsv1.CreateJobRequest) (*jobsv1.CreateJobResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit := req.GetLimit()
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < MinLimit || limit > MaxLimit {
		return nil, status.Errorf(codes.InvalidArgument,
			"limit %d is out of range: it must be from %d to %d, or 0 for the default (%d)",
			limit, MinLimit, MaxLimit, DefaultLimit)
	}
	ctx, done, err := s.life.Enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()

	s.creating.Lock()
	defer s.creating.Unlock()
	if err := s.checkCap(ctx, p.Subject); err != nil {
		return nil, err
	}
	rec := record{Limit: limit, State: jobsv1.JobState_JOB_STATE_RUNNING, StateTime: s.cfg.now()}
	id := strings.ToLower(rand.Text())
	var l store.Lease
	if s.cfg.leases != nil {
		// The lease first: a job in the store without one is taken over.
		if l, err = s.cfg.leases.Acquire(ctx, leaseName(id), s.cfg.replica, s.cfg.leaseTTL); err != nil {
			return nil, s.status(ctx, "jobs: create job", err, id)
		}
		rec.Runner, rec.Epoch = s.cfg.replica, 1
	}
	j, err := s.st.Create(ctx, Namespace, store.Stream{Name: id, Owner: p.Subject, Attrs: rec.encode()})
	if err != nil {
		if l != nil {
			_ = l.Release(context.WithoutCancel(ctx))
		}
		return nil, s.status(ctx, "jobs: create job", err, id)
	}
	s.start(j, rec, l)
	return &jobsv1.CreateJobResponse{Job: toProto(j, rec)}, nil
}

// checkCap refuses a new job of user when they have the most jobs running
// that WithMaxRunningPerUser allows, counted in the store: every replica on
// it counts the same jobs. (Two replicas creating at the same moment may
// still both pass: the count and the create are not one transaction.)
func (s *Service) checkCap(ctx context.Context, user string) error {
	limit := s.cfg.maxPerUser
	if limit == 0 {
		return nil
	}
	all, err := s.st.List(ctx, Namespace)
	if err != nil {
		return s.status(ctx, "jobs: count running jobs", err, "")
	}
	running := 0
	for _, j := range all {
		if j.Owner != user {
			continue
		}
		if rec, err := decodeRecord(j.Attrs); err == nil && rec.State == jobsv1.JobState_JOB_STATE_RUNNING {
			running++
		}
	}
	if running >= limit {
		return status.Errorf(codes.ResourceExhausted,
			"%d of your jobs are running, the most allowed: wait for one to end, or cancel one", running)
	}
	return nil
}

// GetJob implements jobsv1.JobServiceServer.
func (s *Service) GetJob(ctx context.Context, req *jobsv1.GetJobRequest) (*jobsv1.GetJobResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkID(req.GetId()); err != nil {
		return nil, err
	}
	ctx, done, err := s.life.Enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	j, rec, err := s.get(ctx, p, req.GetId())
	if err != nil {
		return nil, err
	}
	return &jobsv1.GetJobResponse{Job: toProto(j, rec)}, nil
}

// ListJobs implements jobsv1.JobServiceServer: the caller's jobs, newest
// first.
func (s *Service) ListJobs(ctx context.Context, _ *jobsv1.ListJobsRequest) (*jobsv1.ListJobsResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	ctx, done, err := s.life.Enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	all, err := s.st.List(ctx, Namespace)
	if err != nil {
		return nil, s.status(ctx, "jobs: list jobs", err, "")
	}
	resp := &jobsv1.ListJobsResponse{}
	for _, j := range all {
		if j.Owner != p.Subject {
			continue
		}
		rec, err := decodeRecord(j.Attrs)
		if err != nil {
			s.cfg.logger.ErrorContext(ctx, "jobs: list jobs", "job", j.Name, "err", err)
			continue
		}
		resp.Jobs = append(resp.Jobs, toProto(j, rec))
	}
	slices.SortFunc(resp.Jobs, func(a, b *jobsv1.Job) int {
		return cmp.Or(b.GetCreateTime().AsTime().Compare(a.GetCreateTime().AsTime()), strings.Compare(b.GetId(), a.GetId()))
	})
	return resp, nil
}

// CancelJob implements jobsv1.JobServiceServer. It returns once the job has
// stopped and its watchers have their `cancelled` event; a job that has
// already ended is returned unchanged.
func (s *Service) CancelJob(ctx context.Context, req *jobsv1.CancelJobRequest) (*jobsv1.CancelJobResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	id := req.GetId()
	if err := checkID(id); err != nil {
		return nil, err
	}
	ctx, done, err := s.life.Enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	j, rec, err := s.get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if rec.State == jobsv1.JobState_JOB_STATE_RUNNING {
		if r := s.running(id); r != nil {
			r.cancel(&cancelRequest{by: p.Subject})
			select {
			case <-r.done:
			case <-ctx.Done():
				return nil, s.status(ctx, "jobs: cancel job", context.Cause(ctx), id)
			}
		} else {
			// Running in the store but not here (on another replica, or
			// its worker stopped on a store error): end it in the store;
			// its worker, wherever it is, can write nothing more.
			w := &worker{s: s, id: id, limit: rec.Limit, started: s.cfg.now(), elapsed: rec.ElapsedMS, anyEpoch: true}
			w.end(jobsv1.JobState_JOB_STATE_CANCELLED, "cancelled by "+p.Subject, cancelledEvent(p.Subject))
		}
		if j, rec, err = s.get(ctx, p, id); err != nil {
			return nil, err
		}
	}
	return &jobsv1.CancelJobResponse{Job: toProto(j, rec)}, nil
}

// WatchJob implements jobsv1.JobServiceServer.
func (s *Service) WatchJob(req *jobsv1.WatchJobRequest, stream jobsv1.JobService_WatchJobServer) error {
	ctx := stream.Context()
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	id := req.GetId()
	if err := checkID(id); err != nil {
		return err
	}
	after, err := storerpc.ResumePoint(ctx, req.GetAfterId())
	if err != nil {
		return err
	}
	ctx, done, err := s.life.Enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	j, _, err := s.get(ctx, p, id)
	if err != nil {
		return err
	}
	if j, err = storerpc.CatchUp(ctx, s.st, Namespace, j, after); err != nil {
		return s.status(ctx, "jobs: watch job", err, id)
	}
	if after > j.Last {
		return status.Errorf(codes.InvalidArgument, "after_id %d is past the last event of job %q (%d)", after, id, j.Last)
	}
	err = storerpc.Serve(ctx, s.st, Namespace, j, after, true, func(e store.Event) error {
		m, err := decodeEvent(e)
		if err != nil {
			return err
		}
		return stream.Send(m)
	})
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound(id) // removed by retention while being read
	}
	return s.status(ctx, "jobs: watch job", err, id)
}
