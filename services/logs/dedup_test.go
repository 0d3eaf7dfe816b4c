package logs_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

// An Append numbered with source_seq is stored once however often it is
// sent: a number at or below the log's last accepted one is acknowledged as
// a duplicate, and a finish may come again. That is what lets the jobs
// service retry a line until it gets an answer.
func TestAppendWithSourceSeqIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := start(t, t.TempDir()).client

	type step struct {
		text   string
		seq    uint64
		finish bool
		// What the call answers: an offset and whether it was a duplicate,
		// or an error code.
		offset uint64
		dup    bool
		code   codes.Code
	}
	tests := []struct {
		name     string
		steps    []step
		want     []entry
		finished bool
	}{
		{
			name: "same seq twice",
			steps: []step{
				{text: "a", seq: 5, offset: 1},
				{text: "a", seq: 5, offset: 1, dup: true},
			},
			want: []entry{{1, "a"}},
		},
		{
			name: "lower seq",
			steps: []step{
				{text: "a", seq: 5, offset: 1},
				{text: "b", seq: 7, offset: 2},
				{text: "a", seq: 5, offset: 2, dup: true},
				{text: "c", seq: 6, offset: 2, dup: true},
			},
			want: []entry{{1, "a"}, {2, "b"}},
		},
		{
			name: "seqs may skip",
			steps: []step{
				{text: "a", seq: 1, offset: 1},
				{text: "b", seq: 10, offset: 2},
				{text: "c", seq: 11, offset: 3},
			},
			want: []entry{{1, "a"}, {2, "b"}, {3, "c"}},
		},
		{
			name: "no seq is always stored and moves nothing",
			steps: []step{
				{text: "a", seq: 3, offset: 1},
				{text: "x", offset: 2},
				{text: "x", offset: 3},
				{text: "a", seq: 3, offset: 3, dup: true},
				{text: "b", seq: 4, offset: 4},
			},
			want: []entry{{1, "a"}, {2, "x"}, {3, "x"}, {4, "b"}},
		},
		{
			name: "finish twice",
			steps: []step{
				{text: "a", seq: 1, offset: 1},
				{seq: 2, finish: true, offset: 1},
				{seq: 2, finish: true, offset: 1, dup: true},
				{finish: true, offset: 1},
				{text: "a", seq: 1, offset: 1, dup: true}, // a late retry of a line
				{text: "late", seq: 3, code: codes.FailedPrecondition},
			},
			want:     []entry{{1, "a"}},
			finished: true,
		},
		{
			name: "a duplicate does not finish",
			steps: []step{
				{text: "a", seq: 4, offset: 1},
				{text: "a", seq: 4, finish: true, offset: 1, dup: true},
			},
			want: []entry{{1, "a"}},
		},
		{
			name: "a line and the finish in one",
			steps: []step{
				{text: "a", seq: 1, finish: true, offset: 1},
				{text: "a", seq: 1, finish: true, offset: 1, dup: true},
			},
			want:     []entry{{1, "a"}},
			finished: true,
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name := fmt.Sprintf("seq-%d", i)
			for j, s := range tt.steps {
				resp, err := c.Append(as(ctx, "alice"), &logsv1.AppendRequest{Name: name, Text: s.text, SourceSeq: s.seq, Finish: s.finish})
				if status.Code(err) != s.code {
					t.Fatalf("step %d %+v: %v, want code %v", j, s, err, s.code)
				}
				if err == nil && (resp.GetOffset() != s.offset || resp.GetDuplicate() != s.dup) {
					t.Fatalf("step %d %+v: offset %d duplicate %v", j, s, resp.GetOffset(), resp.GetDuplicate())
				}
			}
			got, err := tailAll(ctx, t, c, "bob", &logsv1.TailLogsRequest{Name: name})
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("log = %q, %v; want %q", got, err, tt.want)
			}
			list, err := c.ListLogs(as(ctx, "bob"), &logsv1.ListLogsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(list.GetLogs(), func(l *logsv1.LogInfo) bool { return l.GetName() == name })
			if i < 0 || list.GetLogs()[i].GetFinished() != tt.finished {
				t.Errorf("ListLogs has %v, want %s finished=%v", list.GetLogs(), name, tt.finished)
			}
		})
	}
}

// Tries of the same entry that race each other store it once: the check of
// the number and the write of the entry are one atomic step.
func TestConcurrentRetriesStoreOnce(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := start(t, t.TempDir()).client
	const tries, lines = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, tries*lines)
	for seq := uint64(1); seq <= lines; seq++ {
		for range tries {
			wg.Go(func() {
				_, err := c.Append(as(ctx, "alice"), &logsv1.AppendRequest{Name: "race", Text: fmt.Sprint(seq), SourceSeq: seq})
				errs <- err
			})
		}
		wg.Wait() // a sender sends line seq+1 only once line seq is in
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := tailAll(ctx, t, c, "bob", &logsv1.TailLogsRequest{Name: "race"})
	if err != nil {
		t.Fatal(err)
	}
	var want []entry
	for seq := uint64(1); seq <= lines; seq++ {
		want = append(want, entry{seq, fmt.Sprint(seq)})
	}
	if !slices.Equal(got, want) {
		t.Errorf("log = %q, want each line once: %q", got, want)
	}
}

// The last accepted number is stored with the log: a retry that reaches a
// restarted logs service is still recognised.
func TestSourceSeqSurvivesARestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	b := start(t, dir)
	req := &logsv1.AppendRequest{Name: "kept", Text: "once", SourceSeq: 42}
	if _, err := b.client.Append(as(ctx, "alice"), req); err != nil {
		t.Fatal(err)
	}
	b.stop()

	b = start(t, dir)
	resp, err := b.client.Append(as(ctx, "alice"), req)
	if err != nil || !resp.GetDuplicate() || resp.GetOffset() != 1 {
		t.Fatalf("retry after a restart = %v, %v; want a duplicate at offset 1", resp, err)
	}
	if got, err := tailAll(ctx, t, b.client, "bob", &logsv1.TailLogsRequest{Name: "kept"}); err != nil || !slices.Equal(got, []entry{{1, "once"}}) {
		t.Errorf("log = %q, %v", got, err)
	}
}
