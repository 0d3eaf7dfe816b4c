// Package backend is the gRPC side of the ssebench tool: a BenchService that
// streams timestamped messages of a chosen size, at a chosen rate, or holds
// a stream open without sending anything.
package backend

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	benchv1 "github.com/ssegate/ssegate/gen/ssegate/bench/v1"
)

// Limits on one request, so that no stream runs unbounded.
const (
	MaxSize  = 1 << 20
	MaxCount = 1 << 32
)

// Server implements BenchService.
type Server struct {
	benchv1.UnimplementedBenchServiceServer
	// MaxDuration ends any stream that lasts longer, idle ones included;
	// zero means ten minutes.
	MaxDuration time.Duration

	started, open atomic.Int64
}

// Counts are the streams a Server has served, so that a benchmark can see
// how many upstream streams a gateway opened.
type Counts struct {
	// Started counts every Stream call since the server started; Open,
	// those that have not returned yet.
	Started, Open int64
}

// Counts returns the streams served so far.
func (s *Server) Counts() Counts {
	return Counts{Started: s.started.Load(), Open: s.open.Load()}
}

// Stream sends the response headers at once, as the gateway recommends, so
// that the client sees a live stream before the first message; then count
// messages, or nothing at all for an idle stream.
func (s *Server) Stream(req *benchv1.StreamRequest, stream grpc.ServerStreamingServer[benchv1.StreamResponse]) error {
	s.started.Add(1)
	s.open.Add(1)
	defer s.open.Add(-1)
	if req.GetSize() > MaxSize {
		return status.Errorf(codes.InvalidArgument, "size over %d", MaxSize)
	}
	if !req.GetIdle() && (req.GetCount() == 0 || req.GetCount() > MaxCount) {
		return status.Errorf(codes.InvalidArgument, "count must be in 1..%d", uint64(MaxCount))
	}
	limit := s.MaxDuration
	if limit <= 0 {
		limit = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(stream.Context(), limit)
	defer cancel()
	if err := grpc.SendHeader(ctx, metadata.MD{}); err != nil {
		return err
	}
	if req.GetIdle() {
		<-ctx.Done()
		return status.FromContextError(ctx.Err()).Err()
	}
	msg := &benchv1.StreamResponse{Payload: strings.Repeat("x", int(req.GetSize()))}
	p := newPacer(req.GetRate())
	for seq := uint64(1); seq <= req.GetCount(); seq++ {
		if err := p.wait(ctx, seq-1); err != nil {
			return status.FromContextError(err).Err()
		}
		msg.Seq = seq
		msg.SentUnixNano = time.Now().UnixNano()
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	return nil
}

// pacer spaces messages at a fixed rate from the first one. It sleeps only
// when ahead of schedule: a late message goes out at once, so timer
// granularity (about a millisecond when idle) makes small bursts, never a
// lower rate.
type pacer struct {
	start time.Time
	every time.Duration
	timer *time.Timer
}

func newPacer(rate uint32) *pacer {
	p := &pacer{start: time.Now()}
	if rate > 0 {
		p.every = time.Second / time.Duration(rate)
	}
	return p
}

// wait returns when message number i (from 0) is due.
func (p *pacer) wait(ctx context.Context, i uint64) error {
	if p.every == 0 {
		return ctx.Err()
	}
	d := time.Until(p.start.Add(time.Duration(i) * p.every))
	if d <= 0 {
		return ctx.Err()
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return nil
	case <-ctx.Done():
		p.timer.Stop()
		return ctx.Err()
	}
}
