package logs_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/ssegate/ssegate/services/logs"

	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

// secret stands for what a file outside the log directory holds (the
// session secret that /proc/self/environ held).
const secret = "SSEGATE_SESSION_SECRET=hunter2"

// logRecord is one record a recorder got, its attributes as text.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// recorder is a slog.Handler that keeps what it gets.
type recorder struct {
	mu   sync.Mutex
	recs []logRecord
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	lr := logRecord{level: rec.Level, msg: rec.Message, attrs: map[string]string{}}
	rec.Attrs(func(a slog.Attr) bool {
		lr.attrs[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, lr)
	return nil
}

func (r *recorder) records() []logRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

// refusals counts the warnings about each file name.
func (r *recorder) refusals() map[string]int {
	n := map[string]int{}
	for _, rec := range r.records() {
		if rec.level == slog.LevelWarn && rec.attrs["file"] != "" {
			n[rec.attrs["file"]]++
		}
	}
	return n
}

// tailDir is a log directory beside a secret file outside it.
type tailDir struct {
	base, dir, secret string
}

func newTailDir(t *testing.T) tailDir {
	t.Helper()
	base := t.TempDir()
	d := tailDir{base: base, dir: filepath.Join(base, "logs"), secret: filepath.Join(base, "secret")}
	if err := os.Mkdir(d.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, d.secret, secret+"\n", 0)
	writeFile(t, filepath.Join(d.dir, "ok.log"), "ok 1\n", 0)
	return d
}

func (d tailDir) path(name string) string { return filepath.Join(d.dir, name) }

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

// holdFIFOs opens every FIFO in dir for reading and writing (which on
// Linux never blocks) until release: meanwhile an open of one of them does
// not block either, so that a test that failed because the tailer hangs on
// a FIFO can still close the service and end.
func holdFIFOs(dir string) (release func()) {
	var held []*os.File
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type()&os.ModeNamedPipe != 0 {
			if f, err := os.OpenFile(filepath.Join(dir, e.Name()), os.O_RDWR, 0); err == nil {
				held = append(held, f)
			}
		}
	}
	return func() {
		for _, f := range held {
			_ = f.Close()
		}
	}
}

func listen(t *testing.T, path string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
}

// environ is what this process's /proc/self/environ holds, if it can be
// read: none of it may reach a reader either.
func environ() []string {
	raw, err := os.ReadFile("/proc/self/environ")
	if err != nil {
		return nil
	}
	var out []string
	for _, kv := range bytes.Split(raw, []byte{0}) {
		if len(kv) > 0 {
			out = append(out, string(kv))
		}
	}
	return out
}

// startDir serves the logs service tailing d.dir, with a recording logger.
func startDir(t *testing.T, d tailDir) (*backend, *recorder) {
	t.Helper()
	rec := &recorder{}
	opts := append(fastTail(d.dir, 0), logs.WithLogger(slog.New(rec)))
	b := start(t, t.TempDir(), opts...)
	t.Cleanup(func() { // before start's own cleanup
		release := holdFIFOs(d.dir)
		defer release()
		b.stop()
	})
	return b, rec
}

// tailOK follows ok.log and returns the stream once its first entry came.
func tailOK(ctx context.Context, t *testing.T, c logsv1.LogServiceClient) logsv1.LogService_TailLogsClient {
	t.Helper()
	waitLog(ctx, t, c, "ok.log")
	s, err := c.TailLogs(as(ctx, "reader"), &logsv1.TailLogsRequest{Name: "ok.log", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := recv(t, s, 1); got[0] != (entry{1, "ok 1"}) {
		t.Fatalf("ok.log: got %v", got)
	}
	return s
}

// stillTailing proves the tailer went on polling: a line appended to
// ok.log arrives. It waits at most as long as ctx, so it fails only on a
// hang.
func stillTailing(t *testing.T, d tailDir, s logsv1.LogService_TailLogsClient, n int) {
	t.Helper()
	line := fmt.Sprint("ok ", n)
	appendFile(t, d.path("ok.log"), line+"\n")
	if got := recv(t, s, 1); got[0] != (entry{uint64(n), line}) {
		t.Fatalf("ok.log: got %v, want %q", got, line)
	}
}

// closePromptly closes the service and fails if that hangs; the FIFOs in
// dir are then held open so that the test can end.
func closePromptly(t *testing.T, b *backend, dir string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		_ = b.svc.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // only a hang gets here
		release := holdFIFOs(dir)
		defer release()
		<-done
		t.Fatal("Close did not return: the tailer is stuck")
	}
}

// noLeak checks what callers and the log can see: only the logs in want
// are listed, every other name in refused is NOT_FOUND, no entry of any
// listed log holds the secret or this process's environment, and no log
// record names more than the file (not the directory or a link's target).
func noLeak(ctx context.Context, t *testing.T, b *backend, rec *recorder, base string, want, refused []string) {
	t.Helper()
	list, err := b.client.ListLogs(as(ctx, "reader"), &logsv1.ListLogsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range list.GetLogs() {
		names = append(names, l.GetName())
	}
	if !slices.Equal(names, want) {
		t.Errorf("ListLogs = %q, want %q", names, want)
	}
	forbidden := append(environ(), secret)
	for _, name := range names {
		es, err := tailAll(ctx, t, b.client, "reader", &logsv1.TailLogsRequest{Name: name})
		if err != nil {
			t.Fatalf("tail %s: %v", name, err)
		}
		leaked := 0
		for _, e := range es {
			if slices.ContainsFunc(forbidden, func(f string) bool { return strings.Contains(e.text, f) }) {
				leaked++
			}
		}
		if leaked > 0 { // not printed: it may be this process's environment
			t.Errorf("log %s serves the secret or the environment in %d of its %d entries", name, leaked, len(es))
		}
	}
	for _, name := range refused {
		if slices.Contains(want, name) {
			continue
		}
		_, err := tailAll(ctx, t, b.client, "reader", &logsv1.TailLogsRequest{Name: name})
		wantCode(t, err, codes.NotFound)
	}
	for _, r := range rec.records() {
		for k, v := range r.attrs {
			if strings.Contains(v, base) || strings.Contains(v, secret) {
				t.Errorf("log record %q has %s=%q: more than the file's name", r.msg, k, v)
			}
		}
	}
}

// What the directory holds besides ok.log: links that leave it and
// anything that is not a regular file are not tailed, listed or served;
// each is reported once at warn level, by name; ok.log goes on being
// tailed and the service closes at once.
func TestTailRefusesEntries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		make    func(t *testing.T, d tailDir)
		refused []string // names reported as not tailed
	}{
		{"link to a file outside", func(t *testing.T, d tailDir) {
			symlink(t, d.secret, d.path("bad.log"))
		}, []string{"bad.log"}},
		{"relative link out", func(t *testing.T, d tailDir) {
			symlink(t, "../secret", d.path("bad.log"))
		}, []string{"bad.log"}},
		{"link out through a linked directory", func(t *testing.T, d tailDir) {
			symlink(t, "..", d.path("up"))
			symlink(t, "up/secret", d.path("bad.log"))
		}, []string{"bad.log", "up"}},
		{"link to /proc/self/environ", func(t *testing.T, d tailDir) {
			symlink(t, "/proc/self/environ", d.path("environ"))
		}, []string{"environ"}},
		// os.Root refuses every absolute link, even one that leads back in.
		{"absolute link into the directory", func(t *testing.T, d tailDir) {
			symlink(t, d.path("ok.log"), d.path("abs.log"))
		}, []string{"abs.log"}},
		{"link to itself", func(t *testing.T, d tailDir) {
			symlink(t, "loop.log", d.path("loop.log"))
		}, []string{"loop.log"}},
		{"FIFO", func(t *testing.T, d tailDir) {
			mkfifo(t, d.path("fifo.log"))
		}, []string{"fifo.log"}},
		{"link to a FIFO in the directory", func(t *testing.T, d tailDir) {
			mkfifo(t, d.path("fifo"))
			symlink(t, "fifo", d.path("bad.log"))
		}, []string{"bad.log", "fifo"}},
		{"subdirectory", func(t *testing.T, d tailDir) {
			if err := os.Mkdir(d.path("sub.log"), 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, d.path("sub.log/inner"), "inner\n", 0)
		}, []string{"sub.log"}},
		{"socket", func(t *testing.T, d tailDir) {
			listen(t, d.path("sock"))
		}, []string{"sock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			d := newTailDir(t)
			tt.make(t, d)
			b, rec := startDir(t, d)
			s := tailOK(ctx, t, b.client)
			// Several polls after the one that found the entries.
			stillTailing(t, d, s, 2)
			stillTailing(t, d, s, 3)

			noLeak(ctx, t, b, rec, d.base, []string{"ok.log"}, tt.refused)
			got := rec.refusals()
			for _, name := range tt.refused {
				if got[name] != 1 {
					t.Errorf("%s reported %d times, want once", name, got[name])
				}
			}
			if len(got) != len(tt.refused) {
				t.Errorf("reported %v, want %q", got, tt.refused)
			}
			closePromptly(t, b, d.dir)
		})
	}
}

// A relative link that stays in the directory is followed: the log of the
// link's name serves the file it leads to (the same file can so be served
// under two names).
func TestTailFollowsLinkInside(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	d := newTailDir(t)
	if err := os.Mkdir(d.path("sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, d.path("sub/inner.log"), "inner 1\n", 0)
	symlink(t, "sub/inner.log", d.path("alias.log"))
	b, rec := startDir(t, d)
	waitLog(ctx, t, b.client, "alias.log")
	s, err := b.client.TailLogs(as(ctx, "reader"), &logsv1.TailLogsRequest{Name: "alias.log", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := recv(t, s, 1); got[0] != (entry{1, "inner 1"}) {
		t.Fatalf("alias.log: got %v", got)
	}
	appendFile(t, d.path("sub/inner.log"), "inner 2\n")
	if got := recv(t, s, 1); got[0] != (entry{2, "inner 2"}) {
		t.Fatalf("alias.log: got %v", got)
	}
	noLeak(ctx, t, b, rec, d.base, []string{"alias.log", "ok.log"}, []string{"sub"})
}

// A tailed file replaced by something that must not be read: what the
// file had stays, nothing of the replacement is served, the replacement is
// reported once, the other files go on being tailed and Close returns.
func TestTailFileReplaced(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		replace func(t *testing.T, d tailDir, path string)
	}{
		{"by a FIFO", func(t *testing.T, _ tailDir, path string) { mkfifo(t, path) }},
		{"by a link to a file outside", func(t *testing.T, d tailDir, path string) { symlink(t, d.secret, path) }},
		{"by a relative link out", func(t *testing.T, _ tailDir, path string) { symlink(t, "../secret", path) }},
		{"by a directory", func(t *testing.T, _ tailDir, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{"by a socket", func(t *testing.T, _ tailDir, path string) { listen(t, path) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			d := newTailDir(t)
			victim := d.path("victim.log")
			writeFile(t, victim, "v 1\n", 0)
			b, rec := startDir(t, d)
			s := tailOK(ctx, t, b.client)
			waitLog(ctx, t, b.client, "victim.log")
			vs, err := b.client.TailLogs(as(ctx, "reader"), &logsv1.TailLogsRequest{Name: "victim.log", Follow: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := recv(t, vs, 1); got[0] != (entry{1, "v 1"}) {
				t.Fatalf("victim.log: got %v", got)
			}

			appendFile(t, victim, "v 2\n")
			if err := os.Remove(victim); err != nil {
				t.Fatal(err)
			}
			tt.replace(t, d, victim)
			// ok.log is polled before victim.log: once an entry appended
			// after the replacement is stored, the replacement was seen.
			stillTailing(t, d, s, 2)
			stillTailing(t, d, s, 3)

			es, err := tailAll(ctx, t, b.client, "reader", &logsv1.TailLogsRequest{Name: "victim.log"})
			if want := []entry{{1, "v 1"}, {2, "v 2"}}; err != nil || !slices.Equal(es, want) {
				t.Errorf("victim.log = %v, %v; want %v", es, err, want)
			}
			noLeak(ctx, t, b, rec, d.base, []string{"ok.log", "victim.log"}, nil)
			if got := rec.refusals(); got["victim.log"] != 1 || len(got) != 1 {
				t.Errorf("reported %v, want victim.log once", got)
			}
			closePromptly(t, b, d.dir)
		})
	}
}

// A log directory that is itself a FIFO does not hang the tailer.
func TestTailDirIsFIFO(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	mkfifo(t, dir)
	rec := &recorder{}
	b := start(t, t.TempDir(), append(fastTail(dir, 0), logs.WithLogger(slog.New(rec)))...)
	t.Cleanup(func() {
		release := holdFIFOs(filepath.Dir(dir))
		defer release()
		b.stop()
	})
	ctx := testContext(t)
	// The tailer reports the directory it cannot read.
	for !slices.ContainsFunc(rec.records(), func(r logRecord) bool { return r.level == slog.LevelError }) {
		select {
		case <-ctx.Done():
			t.Fatal("the directory error was never reported")
		case <-time.After(2 * time.Millisecond):
		}
	}
	closePromptly(t, b, filepath.Dir(dir))
}
