package logs

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/services/store"
	"github.com/ssegate/ssegate/services/store/storerpc"

	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

var (
	errReadOnly = errors.New("logs: log is read-only")
	// errDuplicate cancels the write of an entry the log already has.
	errDuplicate = errors.New("logs: duplicate entry")
)

func caller(ctx context.Context) (identity.Principal, error) {
	p, ok := identity.FromContext(ctx)
	if !ok || p.Subject == "" {
		return identity.Principal{}, status.Error(codes.Unauthenticated, "sign in to use logs")
	}
	return p, nil
}

func checkName(name string) error {
	if !validName(name) {
		return status.Errorf(codes.InvalidArgument,
			"log name must be 1 to %d letters, digits, '.', '_' or '-'", MaxNameLen)
	}
	return nil
}

func notFound(name string) error {
	return status.Errorf(codes.NotFound, "log %q not found", name)
}

func readOnly(name string) error {
	return status.Errorf(codes.PermissionDenied, "log %q is read-only: it tails a file", name)
}

// readable reports whether p may read log l. The gateway calling as
// itself reads a log for every browser of a shared (PUBLIC) tail, each of
// which it let in by a tail of their own first, so it may read them all.
func readable(l store.Stream, p identity.Principal) bool {
	if p.IsGateway() {
		return true
	}
	if strings.HasPrefix(l.Name, JobLogPrefix) {
		return l.Owner != "" && l.Owner == p.Subject
	}
	return true
}

func decodeAttrs(raw []byte) (attrs, error) {
	var a attrs
	if len(raw) == 0 {
		return a, nil
	}
	err := json.Unmarshal(raw, &a)
	return a, err
}

func encodeAttrs(a attrs) []byte {
	raw, _ := json.Marshal(a) // a has only strings and numbers
	return raw
}

// Append implements logsv1.LogServiceServer. It adds one entry; with finish
// it then marks the log finished. Empty text is allowed only with finish,
// and then finishes the log without adding an entry; finishing a finished
// log that way is acknowledged, so a sender may repeat it. An entry whose
// source_seq is not above the log's last accepted one is a duplicate: it is
// acknowledged and nothing is stored.
func (s *Service) Append(ctx context.Context, req *logsv1.AppendRequest) (*logsv1.AppendResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if p.IsGateway() {
		// The gateway calls as itself only to read shared streams.
		return nil, status.Error(codes.PermissionDenied, "the gateway may not append to logs")
	}
	if err := checkName(req.GetName()); err != nil {
		return nil, err
	}
	text := req.GetText()
	switch {
	case len(text) > MaxTextLen:
		return nil, status.Errorf(codes.InvalidArgument, "text is %d bytes, more than %d", len(text), MaxTextLen)
	case text == "" && !req.GetFinish():
		return nil, status.Error(codes.InvalidArgument, "text is empty")
	}
	ctx, done, err := s.life.Enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()

	name := req.GetName()
	l, err := s.st.Get(ctx, Namespace, name)
	if errors.Is(err, store.ErrNotFound) {
		l, err = s.st.Create(ctx, Namespace, store.Stream{Name: name, Owner: p.Subject, Attrs: encodeAttrs(attrs{Source: sourceAppend})})
		if errors.Is(err, store.ErrExists) {
			l, err = s.st.Get(ctx, Namespace, name)
		}
	}
	if err != nil {
		return nil, s.status(ctx, "logs: append", err, name)
	}
	switch a, _ := decodeAttrs(l.Attrs); {
	case !readable(l, p):
		return nil, notFound(name)
	case a.Source != sourceAppend:
		return nil, readOnly(name)
	case l.Owner != p.Subject:
		return nil, status.Errorf(codes.PermissionDenied, "log %q belongs to another user", name)
	}
	seq := req.GetSourceSeq()
	b := store.Batch{
		Finish: req.GetFinish(),
		// Checked inside the write: against a file tail that took the name,
		// and against a retry racing the try it repeats, so that the entry
		// and the position it moves the log to are stored together or not
		// at all.
		Update: func(raw []byte) ([]byte, error) {
			a, err := decodeAttrs(raw)
			switch {
			case err != nil || a.Source != sourceAppend:
				return nil, errReadOnly
			case seq == 0:
				return raw, nil
			case seq <= a.Seq:
				return nil, errDuplicate
			}
			a.Seq = seq
			return encodeAttrs(a), nil
		},
	}
	if text != "" {
		b.Events = [][]byte{[]byte(text)}
	}
	l, err = s.st.Append(ctx, Namespace, name, b)
	if errors.Is(err, store.ErrFinished) {
		// The store refuses a finished log's writes before it runs the
		// update: the request may still be a duplicate, or a finish again.
		if l, err = s.st.Get(ctx, Namespace, name); err == nil {
			switch a, _ := decodeAttrs(l.Attrs); {
			case seq != 0 && seq <= a.Seq:
				err = errDuplicate
			case text == "":
				return &logsv1.AppendResponse{Offset: l.Last}, nil
			default:
				err = store.ErrFinished
			}
		}
	}
	if errors.Is(err, errDuplicate) {
		if l, err = s.st.Get(ctx, Namespace, name); err != nil {
			return nil, s.status(ctx, "logs: append", err, name)
		}
		return &logsv1.AppendResponse{Offset: l.Last, Duplicate: true}, nil
	}
	switch {
	case errors.Is(err, errReadOnly):
		return nil, readOnly(name)
	case errors.Is(err, store.ErrFinished):
		return nil, status.Errorf(codes.FailedPrecondition, "log %q is finished", name)
	case err != nil:
		return nil, s.status(ctx, "logs: append", err, name)
	}
	return &logsv1.AppendResponse{Offset: l.Last}, nil
}

// ListLogs implements logsv1.LogServiceServer: the logs the caller may read,
// by name.
func (s *Service) ListLogs(ctx context.Context, _ *logsv1.ListLogsRequest) (*logsv1.ListLogsResponse, error) {
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
		return nil, s.status(ctx, "logs: list", err, "")
	}
	resp := &logsv1.ListLogsResponse{}
	for _, l := range all {
		if readable(l, p) {
			resp.Logs = append(resp.Logs, &logsv1.LogInfo{Name: l.Name, LastOffset: l.Last, Finished: l.Finished})
		}
	}
	return resp, nil
}

// TailLogs implements logsv1.LogServiceServer.
func (s *Service) TailLogs(req *logsv1.TailLogsRequest, stream logsv1.LogService_TailLogsServer) error {
	ctx := stream.Context()
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	name := req.GetName()
	if err := checkName(name); err != nil {
		return err
	}
	after, err := storerpc.ResumePoint(ctx, req.GetAfterOffset())
	if err != nil {
		return err
	}
	ctx, done, err := s.life.Enter(ctx)
	if err != nil {
		return err
	}
	defer done()

	l, err := s.st.Get(ctx, Namespace, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !readable(l, p)) {
		return notFound(name)
	}
	if err != nil {
		return s.status(ctx, "logs: tail", err, name)
	}
	if l, err = storerpc.CatchUp(ctx, s.st, Namespace, l, after); err != nil {
		return s.status(ctx, "logs: tail", err, name)
	}
	if after > l.Last {
		return status.Errorf(codes.InvalidArgument, "after_offset %d is past the end of log %q (last offset %d)", after, name, l.Last)
	}
	err = storerpc.Serve(ctx, s.st, Namespace, l, after, req.GetFollow(), func(e store.Event) error {
		return stream.Send(&logsv1.TailLogsResponse{
			Name:   name,
			Offset: e.ID,
			Text:   string(e.Data),
			Time:   timestamppb.New(e.Time),
		})
	})
	if errors.Is(err, store.ErrNotFound) {
		return notFound(name) // removed by retention while being read
	}
	return s.status(ctx, "logs: tail", err, name)
}

// status maps err for a caller, logging what is not the caller's business.
func (s *Service) status(ctx context.Context, msg string, err error, name string) error {
	return storerpc.LogStatus(ctx, s.cfg.logger, err, msg, "log", name)
}
