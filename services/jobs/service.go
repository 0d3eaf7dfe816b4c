// Package jobs implements ssegate.jobs.v1.JobService: long jobs that count
// the primes below a limit in the background, with live progress, partial
// results and log lines that any number of watchers follow and resume.
//
// Every event is written to a store.Streams (one stream per job, event ids
// from 1) before any watcher sees it, and each watcher reads the store at its
// own pace, woken when the job appends: a slow watcher never holds the job up
// and never misses an event. The job's state and its last checkpoint (the
// state of its last progress event) are written in the same atomic step as
// the events, so a new process on the same store resumes every job that was
// running from its checkpoint, continuing the event ids, and reaches the
// same count.
//
// Each job also writes its log lines to the logs service, as the job's
// creator, into the log "job-<id>", finished when the job ends. No token is
// kept with the job: each call to the logs service carries an identity
// token this service signs with its own key, naming the creator and this
// service as the one acting for them (the logs client's connection does
// that; see identity.Minter.DialOptions), which the logs service accepts
// from this service for Append only. Shipping runs beside the job and
// never holds it up. It sends
// each line, numbered with its event id, until the logs service has it, and
// only then the next, across outages of the logs service and restarts of
// this one (which resume from the last line shipped); the logs service drops
// a line it already has, so each is stored once, in order, and the log is
// finished once its last line is in. A refusal (such as a key the logs
// service does not trust) is logged and tried again at the longest retry
// wait: a line is never skipped.
//
// Replicas. With WithLeases, several replicas share one store (natsstore):
// the replica that creates a job holds its lease and runs it, renewing the
// lease as it goes; every replica looks, every half lease, for jobs that
// are running (or whose log is not all shipped) without a lease holder, and
// one of them takes each such job over from its checkpoint. The takeover
// raises the job's term in its record, and each of a worker's writes checks
// the term in the same atomic step, so a replica that lost its lease
// without knowing it writes nothing more: a job's events continue, once,
// and it ends once, with the count it would have had.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ssegate/ssegate/services/prime"
	"github.com/ssegate/ssegate/services/store"
	"github.com/ssegate/ssegate/services/store/storerpc"

	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

// Namespace is the store namespace that holds the jobs.
const Namespace = "jobs"

// Limits of CreateJob.
const (
	// DefaultLimit is the limit of a job created with limit 0. With the
	// default chunk size and pacing it runs for about 30 seconds.
	DefaultLimit = 400_000_000
	// MinLimit and MaxLimit bound the limit a job may have.
	MinLimit = 2
	MaxLimit = 2_000_000_000
)

// Defaults of the options.
const (
	// DefaultChunkSize is how many numbers a job sieves between two checks
	// for cancellation.
	DefaultChunkSize = prime.DefaultChunkSize
	// DefaultMinChunkDuration paces jobs: the sieve does about a billion
	// numbers a second on one core, far too fast to watch, so each chunk
	// takes at least this long. 400,000,000 / 262,144 = 1,526 chunks of
	// 20 ms make the default job last about 30 seconds.
	DefaultMinChunkDuration = 20 * time.Millisecond
	// DefaultProgressInterval is the least time between two progress
	// events of a job.
	DefaultProgressInterval = 100 * time.Millisecond
	// DefaultLogTimeout bounds one call to the logs service.
	DefaultLogTimeout = 5 * time.Second
	// DefaultLogRetryMin and DefaultLogRetryMax bound the waits between
	// two tries to ship a line of a job log.
	DefaultLogRetryMin = 100 * time.Millisecond
	DefaultLogRetryMax = 5 * time.Second
)

// maxChunkSize bounds the memory of a chunk (half a byte per number).
const maxChunkSize = 1 << 26

// Option configures New.
type Option func(*config)

type config struct {
	chunkSize        uint32
	minChunkDuration time.Duration
	progressInterval time.Duration
	logTimeout       time.Duration
	logRetryMin      time.Duration
	logRetryMax      time.Duration
	maxPerUser       int
	now              func() time.Time
	logger           *slog.Logger
	leases           store.Leases
	replica          string
	leaseTTL         time.Duration
}

// DefaultLeaseTTL is the lease time of WithLeases with ttl 0: how long a
// job whose replica died waits for another to take it over, at most.
const DefaultLeaseTTL = 10 * time.Second

// WithChunkSize sets how many numbers a job sieves per chunk (default
// DefaultChunkSize). A job checks for cancellation between chunks.
func WithChunkSize(n uint32) Option {
	return func(c *config) { c.chunkSize = n }
}

// WithMinChunkDuration paces jobs so that each chunk takes at least d on
// average (default DefaultMinChunkDuration); 0 runs at full speed.
func WithMinChunkDuration(d time.Duration) Option {
	return func(c *config) { c.minChunkDuration = d }
}

// WithProgressInterval sets the least time between two progress events
// (default DefaultProgressInterval); a job also reports after its last chunk.
func WithProgressInterval(d time.Duration) Option {
	return func(c *config) { c.progressInterval = d }
}

// WithLogTimeout bounds each call to the logs service, the wait for a
// connection included (default DefaultLogTimeout).
func WithLogTimeout(d time.Duration) Option {
	return func(c *config) { c.logTimeout = d }
}

// WithLogRetry sets the waits between tries to ship a line of a job log:
// first after the first failure, doubling with each failure up to maxWait,
// each shortened at random by up to half (defaults DefaultLogRetryMin and
// DefaultLogRetryMax). A line is tried until the logs service has it or the
// service closes.
func WithLogRetry(first, maxWait time.Duration) Option {
	return func(c *config) { c.logRetryMin, c.logRetryMax = first, maxWait }
}

// WithMaxRunningPerUser caps the jobs one user may have running at once;
// CreateJob beyond it answers RESOURCE_EXHAUSTED (HTTP 429). The running
// jobs are counted in the store, so replicas sharing it share the cap.
// Zero, the default, means no cap.
func WithMaxRunningPerUser(n int) Option {
	return func(c *config) { c.maxPerUser = n }
}

// WithClock sets the clock of job times, elapsed times and progress pacing.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithLogger sets the logger for errors that reach no caller.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithLeases runs the service as one of several replicas on a shared
// store: it runs a job only while it holds the job's lease in l, as
// replica (a name unique among the replicas), and takes over the jobs of
// replicas that stopped renewing theirs for ttl (whole seconds;
// DefaultLeaseTTL if 0). Without it the service is the store's only user
// and, when it starts, resumes every job the store has as running.
func WithLeases(l store.Leases, replica string, ttl time.Duration) Option {
	return func(c *config) { c.leases, c.replica, c.leaseTTL = l, replica, ttl }
}

// Service implements jobsv1.JobServiceServer. Close it before its store.
type Service struct {
	jobsv1.UnimplementedJobServiceServer

	st   store.Streams
	logs logsv1.LogServiceClient // nil: job logs are not shipped
	cfg  config
	life *storerpc.Lifetime

	mu    sync.Mutex
	runs  map[string]*run // running jobs by id
	owned map[string]bool // with leases: the jobs whose lease this replica holds

	// creating serializes CreateJob's count of running jobs and its
	// create, so that callers of one process cannot pass the cap together
	// (replicas each count the store's jobs; two of them at once may).
	creating sync.Mutex
}

// run is a job running in this process.
type run struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// New returns a Service that keeps its jobs in st and writes their logs
// through logs (nil to keep them only in the job's events). It resumes the
// jobs st has as running, and the log shipping of finished ones that was
// cut short.
func New(st store.Streams, logs logsv1.LogServiceClient, opts ...Option) (*Service, error) {
	cfg := config{
		chunkSize:        DefaultChunkSize,
		minChunkDuration: DefaultMinChunkDuration,
		progressInterval: DefaultProgressInterval,
		logTimeout:       DefaultLogTimeout,
		logRetryMin:      DefaultLogRetryMin,
		logRetryMax:      DefaultLogRetryMax,
		now:              time.Now,
		logger:           slog.Default(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case st == nil:
		return nil, errors.New("jobs: nil store")
	case cfg.now == nil || cfg.logger == nil:
		return nil, errors.New("jobs: nil clock or logger")
	case cfg.chunkSize < 2 || cfg.chunkSize > maxChunkSize:
		return nil, fmt.Errorf("jobs: chunk size %d is not from 2 to %d", cfg.chunkSize, maxChunkSize)
	case cfg.maxPerUser < 0:
		return nil, errors.New("jobs: negative cap of running jobs")
	case cfg.minChunkDuration < 0 || cfg.progressInterval < 0 || cfg.logTimeout <= 0:
		return nil, errors.New("jobs: negative duration, or a log timeout that is not positive")
	case cfg.logRetryMin <= 0 || cfg.logRetryMax < cfg.logRetryMin:
		return nil, fmt.Errorf("jobs: log retry waits from %v to %v: the first must be positive and not above the longest", cfg.logRetryMin, cfg.logRetryMax)
	case cfg.leases != nil && (cfg.replica == "" || cfg.leaseTTL < 0 || (cfg.leaseTTL > 0 && cfg.leaseTTL < 2*time.Second)):
		return nil, fmt.Errorf("jobs: leases need a replica name and a ttl of at least 2s (or 0 for %v), got %q and %v", DefaultLeaseTTL, cfg.replica, cfg.leaseTTL)
	}
	if cfg.leases != nil && cfg.leaseTTL == 0 {
		cfg.leaseTTL = DefaultLeaseTTL
	}
	s := &Service{st: st, logs: logs, cfg: cfg, life: storerpc.NewLifetime(), runs: make(map[string]*run), owned: make(map[string]bool)}
	if cfg.leases != nil {
		s.life.Go(s.takeOverLoop)
		return s, nil
	}
	if err := s.resume(context.Background()); err != nil {
		s.life.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the running jobs where they are (a new Service on the same
// store resumes them; with leases, another replica, as Close gives the
// leases up), ends the open WatchJob streams with UNAVAILABLE (the gateway
// lets the browser reconnect and resume) and waits for all of it. Further
// calls fail with UNAVAILABLE.
func (s *Service) Close() error {
	s.life.Close()
	return nil
}

// resume starts the jobs the store has as running, and the log shipping of
// those whose lines were not all shipped.
func (s *Service) resume(ctx context.Context) error {
	all, err := s.st.List(ctx, Namespace)
	if err != nil {
		return fmt.Errorf("jobs: list jobs to resume: %w", err)
	}
	for _, j := range all {
		rec, err := decodeRecord(j.Attrs)
		if err != nil {
			s.cfg.logger.Error("jobs: skip unreadable job", "job", j.Name, "err", err)
			continue
		}
		if rec.State == jobsv1.JobState_JOB_STATE_RUNNING {
			s.cfg.logger.Info("jobs: resuming job", "job", j.Name, "done", rec.Done, "limit", rec.Limit)
			s.start(j, rec, nil)
		} else if rec.Shipped < j.Last {
			s.startShipping(j, rec)
		}
	}
	return nil
}

// start runs job j in the background, and ships its log lines; with lease
// l, in the lease's run (see leased).
func (s *Service) start(j store.Stream, rec record, l store.Lease) {
	if l != nil {
		s.leased(j, rec, l)
		return
	}
	ctx, cancel := context.WithCancelCause(s.life.Context())
	r := &run{cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	s.runs[j.Name] = r
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		delete(s.runs, j.Name)
		s.mu.Unlock()
		cancel(context.Canceled)
	}
	started := s.life.Go(func(context.Context) {
		defer close(r.done)
		defer forget()
		s.work(ctx, j, rec)
	})
	if !started {
		forget()
		return
	}
	s.startShipping(j, rec)
}

func (s *Service) running(id string) *run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[id]
}
