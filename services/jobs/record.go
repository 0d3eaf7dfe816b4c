package jobs

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ssegate/ssegate/services/store"

	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
)

// record is what the service keeps in a job's store.Stream.Attrs. The id,
// owner and creation time are the stream's own.
type record struct {
	Limit     uint32          `json:"limit"`
	State     jobsv1.JobState `json:"state"`
	StateTime time.Time       `json:"state_time"`
	// The checkpoint: the state of the last progress event.
	Done    uint32 `json:"done,omitempty"`
	Count   uint32 `json:"count,omitempty"`
	Largest uint32 `json:"largest,omitempty"`
	// ElapsedMS is the time the job had run at the checkpoint, across
	// processes.
	ElapsedMS uint64 `json:"elapsed_ms,omitempty"`
	// Shipped is the id of the last event the log shipping has dealt with.
	Shipped uint64 `json:"shipped,omitempty"`
	// With leases (replicas sharing a store): the replica that runs the
	// job, and its term, raised by each takeover. A worker writes only in
	// its own term, so one that lost its lease without knowing it yet can
	// write nothing once another has taken the job over.
	Runner string `json:"runner,omitempty"`
	Epoch  uint64 `json:"epoch,omitempty"`
}

func decodeRecord(raw []byte) (record, error) {
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("jobs: decode job record: %w", err)
	}
	return r, nil
}

func (r record) encode() []byte {
	raw, _ := json.Marshal(r) // only numbers, strings and a time
	return raw
}

// updateRecord returns a store.Batch Update that applies f to the record.
func updateRecord(f func(*record) error) func([]byte) ([]byte, error) {
	return func(raw []byte) ([]byte, error) {
		r, err := decodeRecord(raw)
		if err != nil {
			return nil, err
		}
		if err := f(&r); err != nil {
			return nil, err
		}
		return r.encode(), nil
	}
}

// toProto returns the API view of job j.
func toProto(j store.Stream, r record) *jobsv1.Job {
	job := &jobsv1.Job{
		Id:         j.Name,
		Owner:      j.Owner,
		Limit:      r.Limit,
		State:      r.State,
		CreateTime: timestamppb.New(j.Created),
		UpdateTime: timestamppb.New(r.StateTime),
	}
	if r.State == jobsv1.JobState_JOB_STATE_COMPLETED {
		job.Count = r.Count
	}
	return job
}

// encodeEvents turns events into store data: the message without its id,
// which is the store's.
func encodeEvents(events ...*jobsv1.WatchJobResponse) ([][]byte, error) {
	out := make([][]byte, len(events))
	for i, e := range events {
		b, err := proto.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("jobs: encode event: %w", err)
		}
		out[i] = b
	}
	return out, nil
}

func decodeEvent(e store.Event) (*jobsv1.WatchJobResponse, error) {
	m := &jobsv1.WatchJobResponse{}
	if err := proto.Unmarshal(e.Data, m); err != nil {
		return nil, fmt.Errorf("jobs: decode event %d: %w", e.ID, err)
	}
	m.Id = e.ID
	return m, nil
}

// Event constructors.

func logEvent(text string) *jobsv1.WatchJobResponse {
	return &jobsv1.WatchJobResponse{Event: &jobsv1.WatchJobResponse_Log{Log: text}}
}

func progressEvent(done, total uint32) *jobsv1.WatchJobResponse {
	return &jobsv1.WatchJobResponse{Event: &jobsv1.WatchJobResponse_Progress{Progress: &jobsv1.Progress{
		Done: done, Total: total, Percent: percent(done, total),
	}}}
}

func partialEvent(count, largest uint32) *jobsv1.WatchJobResponse {
	return &jobsv1.WatchJobResponse{Event: &jobsv1.WatchJobResponse_Partial{Partial: &jobsv1.Partial{
		Count: count, Largest: largest,
	}}}
}

func percent(done, total uint32) float64 {
	if total == 0 {
		return 100
	}
	return float64(done) * 100 / float64(total)
}

// terminal reports whether m ends a job's events.
func terminal(m *jobsv1.WatchJobResponse) bool {
	switch m.GetEvent().(type) {
	case *jobsv1.WatchJobResponse_Completed, *jobsv1.WatchJobResponse_Failed, *jobsv1.WatchJobResponse_Cancelled:
		return true
	}
	return false
}
