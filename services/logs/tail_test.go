package logs_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/ssegate/ssegate/services/logs"

	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

// Fast polling so the tests wait milliseconds, not seconds.
func fastTail(dir string, flushAfter time.Duration) []logs.Option {
	return []logs.Option{logs.WithDir(dir), logs.WithPollInterval(2 * time.Millisecond), logs.WithFlushAfter(flushAfter)}
}

// waitLog waits until the tailer has created the log name.
func waitLog(ctx context.Context, t *testing.T, c logsv1.LogServiceClient, name string) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		list, err := c.ListLogs(as(ctx, "reader"), &logsv1.ListLogsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range list.GetLogs() {
			if l.GetName() == name {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("log %q never appeared", name)
		case <-tick.C:
		}
	}
}

func writeFile(t *testing.T, path, text string, flag int) {
	t.Helper()
	f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, text string) { writeFile(t, path, text, os.O_APPEND) }

func texts(es []entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.text
	}
	return out
}

// One file through growth, continuation lines, rotation and truncation: each
// entry arrives whole, once, with offsets that go on increasing.
func TestTailFile(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	files := t.TempDir()
	path := filepath.Join(files, "app.log")
	writeFile(t, path, "line 1\nERROR boom\n\tat a.go:1\n\tat b.go:2\nline 3\n", 0)
	writeFile(t, filepath.Join(files, "bad name.log"), "x\n", 0)
	writeFile(t, filepath.Join(files, "job-1"), "x\n", 0)
	if err := os.Mkdir(filepath.Join(files, "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	c := start(t, t.TempDir(), fastTail(files, 30*time.Millisecond)...).client
	waitLog(ctx, t, c, "app.log")

	s, err := c.TailLogs(as(ctx, "reader"), &logsv1.TailLogsRequest{Name: "app.log", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []entry
	expect := func(step string, want ...string) {
		t.Helper()
		es := recv(t, s, len(want))
		if !slices.Equal(texts(es), want) {
			t.Fatalf("%s: got %v, want %q", step, es, want)
		}
		got = append(got, es...)
	}
	// The last line is stored once the file has been quiet for a while.
	expect("initial content", "line 1", "ERROR boom\n\tat a.go:1\n\tat b.go:2", "line 3")

	appendFile(t, path, "line 4\n")
	expect("growth", "line 4")

	// Rotation: what the old file got last is read, then the new file.
	appendFile(t, path, "line 5\n  continued\n")
	if err := os.Rename(path, filepath.Join(t.TempDir(), "app.log.1")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "new 1\n", 0)
	expect("rotation", "line 5\n  continued", "new 1")

	// Truncation: the file is read again from its start.
	writeFile(t, path, "t\n", os.O_TRUNC)
	expect("truncation", "t")

	for i, e := range got {
		if e.offset != uint64(i+1) {
			t.Errorf("entry %d has offset %d", i, e.offset)
		}
	}

	_, err = c.Append(as(ctx, "reader"), &logsv1.AppendRequest{Name: "app.log", Text: "x"})
	wantCode(t, err, codes.PermissionDenied)

	list, err := c.ListLogs(as(ctx, "reader"), &logsv1.ListLogsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if l := list.GetLogs(); len(l) != 1 || l[0].GetName() != "app.log" || l[0].GetFinished() {
		t.Errorf("ListLogs = %v; want only app.log, not finished", l)
	}
}

// A line without its newline waits for the rest of it.
func TestTailFilePartialLine(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	files := t.TempDir()
	path := filepath.Join(files, "p.log")
	writeFile(t, path, "", 0)
	c := start(t, t.TempDir(), fastTail(files, time.Hour)...).client
	waitLog(ctx, t, c, "p.log")
	s, err := c.TailLogs(as(ctx, "reader"), &logsv1.TailLogsRequest{Name: "p.log", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "first\npart")
	if got := recv(t, s, 1); got[0].text != "first" {
		t.Fatalf("got %v", got)
	}
	// "first" arrived, so "part" has been read too; it is still held.
	appendFile(t, path, "ial\nnext\n")
	if got := recv(t, s, 1); got[0] != (entry{2, "partial"}) {
		t.Fatalf("got %v, want the completed line", got)
	}
}

// A new process goes on from the stored file offset: no entry is stored
// twice, and what the file got meanwhile is not lost.
func TestTailFileAcrossRestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	files, data := t.TempDir(), t.TempDir()
	path := filepath.Join(files, "r.log")
	writeFile(t, path, "a\nb\n", 0)
	b := start(t, data, fastTail(files, 10*time.Millisecond)...)
	waitLog(ctx, t, b.client, "r.log")
	s, err := b.client.TailLogs(as(ctx, "reader"), &logsv1.TailLogsRequest{Name: "r.log", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	recv(t, s, 2)
	b.stop()

	appendFile(t, path, "c\n")
	b = start(t, data, fastTail(files, 10*time.Millisecond)...)
	s, err = b.client.TailLogs(as(ctx, "reader"), &logsv1.TailLogsRequest{Name: "r.log", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := recv(t, s, 3), []entry{{1, "a"}, {2, "b"}, {3, "c"}}; !slices.Equal(got, want) {
		t.Errorf("after restart: %v, want %v", got, want)
	}
	appendFile(t, path, "d\n")
	if got := recv(t, s, 1); got[0] != (entry{4, "d"}) {
		t.Errorf("got %v", got)
	}
}

// A name taken by an appended log is not tailed.
func TestTailFileNameTaken(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	files, data := t.TempDir(), t.TempDir()
	b := start(t, data)
	mustAppend(ctx, t, b.client, "alice", "taken.log", "appended", false)
	b.stop()
	writeFile(t, filepath.Join(files, "taken.log"), "from file\n", 0)
	writeFile(t, filepath.Join(files, "free.log"), "from file\n", 0)
	b = start(t, data, fastTail(files, 0)...)
	waitLog(ctx, t, b.client, "free.log")
	if got, err := tailAll(ctx, t, b.client, "reader", &logsv1.TailLogsRequest{Name: "taken.log"}); err != nil || !slices.Equal(got, []entry{{1, "appended"}}) {
		t.Errorf("taken.log = %v, %v", got, err)
	}
}
