// Package logs implements ssegate.logs.v1.LogService: named logs whose
// entries other services append over gRPC, and the files of a directory
// tailed like `tail -F`, all stored durably in a store.Streams so that a
// reader resumes after any offset it has seen, across restarts too.
//
// Access: any signed-in user may read logs, except that a log named
// "job-<id>" (JobLogPrefix) is readable only by its owner, the user whose
// identity created it through Append (the jobs service appends with the job
// creator's identity). Only the owner may append to a log; logs that tail a
// file are read-only. Another user's job log is NOT_FOUND, like a missing
// one.
//
// Appends are idempotent when the sender numbers them (source_seq): the log
// keeps the last number it accepted, in the same atomic write as the entry,
// and acknowledges without storing an entry numbered at or below it. A
// sender can so retry until it gets an answer, across restarts of either
// side, and every entry is stored once.
//
// TailLogs of a log that does not exist yet is NOT_FOUND, with or without
// follow: a reader waits for a log by retrying, not by holding a stream.
package logs

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ssegate/ssegate/services/store"
	"github.com/ssegate/ssegate/services/store/storerpc"

	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

// Namespace is the store namespace that holds the logs.
const Namespace = "logs"

// Limits on what Append accepts.
const (
	// MaxNameLen is the longest log name, in bytes.
	MaxNameLen = 128
	// MaxTextLen is the longest entry, in bytes; longer lines of tailed files
	// are cut into entries of this size.
	MaxTextLen = 64 << 10
	// JobLogPrefix starts the names of job logs, readable by their owner only.
	JobLogPrefix = "job-"
)

// Defaults of the file tailer.
const (
	DefaultPollInterval = 250 * time.Millisecond
	DefaultFlushAfter   = time.Second
)

// Option configures New.
type Option func(*config)

type config struct {
	dir          string
	pollInterval time.Duration
	flushAfter   time.Duration
	now          func() time.Time
	logger       *slog.Logger
}

// WithDir tails the regular files of dir, each file <dir>/<name> becoming the
// read-only log <name> (names that are not valid log names, and names that
// start with JobLogPrefix, are skipped). Without it no file is tailed.
func WithDir(dir string) Option {
	return func(c *config) { c.dir = dir }
}

// WithPollInterval sets how often the directory and its files are checked
// for new files, growth, rotation and truncation (default 250 ms).
func WithPollInterval(d time.Duration) Option {
	return func(c *config) { c.pollInterval = d }
}

// WithFlushAfter sets how long a file must stay quiet before its last entry
// is stored: until then a following line that starts with a space or a tab
// may still continue it, and a line without its newline may still be
// completed (default one second).
func WithFlushAfter(d time.Duration) Option {
	return func(c *config) { c.flushAfter = d }
}

// WithClock sets the clock the tailer measures quiet time with.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithLogger sets the logger for errors that reach no caller.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// Service implements logsv1.LogServiceServer. Close it before its store.
type Service struct {
	logsv1.UnimplementedLogServiceServer

	st   store.Streams
	cfg  config
	life *storerpc.Lifetime
}

// New returns a Service on st, and starts tailing the directory of WithDir.
func New(st store.Streams, opts ...Option) (*Service, error) {
	cfg := config{
		pollInterval: DefaultPollInterval,
		flushAfter:   DefaultFlushAfter,
		now:          time.Now,
		logger:       slog.Default(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case st == nil:
		return nil, errors.New("logs: nil store")
	case cfg.now == nil || cfg.logger == nil:
		return nil, errors.New("logs: nil clock or logger")
	case cfg.pollInterval <= 0 || cfg.flushAfter < 0:
		return nil, fmt.Errorf("logs: poll interval %v must be positive and flush delay %v not negative", cfg.pollInterval, cfg.flushAfter)
	}
	s := &Service{st: st, cfg: cfg, life: storerpc.NewLifetime()}
	if cfg.dir != "" {
		t := newTailer(s)
		s.life.Go(t.run)
	}
	return s, nil
}

// Close stops the tailer, ends open TailLogs streams with UNAVAILABLE (the
// gateway lets the browser reconnect) and waits for them. Further calls fail
// with UNAVAILABLE.
func (s *Service) Close() error {
	s.life.Close()
	return nil
}

// attrs is what the service keeps in a log's store.Stream.Attrs.
type attrs struct {
	// Source is sourceAppend or sourceFile.
	Source string `json:"source"`
	// For a file: which file (device and inode) and the offset up to which
	// its bytes are stored as entries.
	Dev uint64 `json:"dev,omitempty"`
	Ino uint64 `json:"ino,omitempty"`
	Pos int64  `json:"pos,omitempty"`
	// For an appended log: the last AppendRequest.source_seq accepted,
	// written with the entry it came with so that a retry is recognised.
	Seq uint64 `json:"seq,omitempty"`
}

const (
	sourceAppend = "append"
	sourceFile   = "file"
)

// validName reports whether name is a valid log name.
func validName(name string) bool {
	if len(name) == 0 || len(name) > MaxNameLen {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return name != "." && name != ".."
}
