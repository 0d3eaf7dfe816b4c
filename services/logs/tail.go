package logs

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ssegate/ssegate/services/store"
)

// readBudget bounds what one poll reads from one file, so that a huge file
// is stored in steps and other files are not starved.
const readBudget = 4 << 20

// tailer follows the regular files of a directory by polling, like
// `tail -F`: it picks up new files, reads what files append, and notices
// rotation (the name now leads to another file: the rest of the old one is
// read, then the new one from its start) and truncation (the file is shorter
// than what was read: it is read again from its start). What it reads
// becomes entries (see split) stored together with the file's identity and
// the offset they reach, so a new process goes on where the last one
// stopped. A file replaced while no process ran is read from its start. Not
// noticed (tail has the same limits): a file truncated and grown past the
// read offset between two polls, and a file replaced by one that got the
// same inode and is at least as long.
type tailer struct {
	s       *Service
	files   map[string]*follower
	skipped map[string]bool // names already reported as skipped
	dirErr  string          // last directory error reported
}

// follower is the state of one tailed file.
type follower struct {
	name, path string
	f          *os.File
	id         fileID
	readPos    int64  // offset in f after buf
	buf        []byte // bytes read but not yet stored as entries
	lastData   time.Time
	saved      attrs  // the state stored with the last entries
	restore    *attrs // the stored state to go on from when f is opened
}

func newTailer(s *Service) *tailer {
	return &tailer{s: s, files: make(map[string]*follower), skipped: make(map[string]bool)}
}

func (t *tailer) run(ctx context.Context) {
	tick := time.NewTicker(t.s.cfg.pollInterval)
	defer tick.Stop()
	defer func() {
		for _, fl := range t.files {
			fl.close()
		}
	}()
	for {
		t.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *tailer) skip(name, why string, err error) {
	if !t.skipped[name] {
		t.skipped[name] = true
		t.s.cfg.logger.Warn("logs: file not tailed", "file", name, "reason", why, "err", err)
	}
}

// poll looks for new files, then polls every followed file once.
func (t *tailer) poll(ctx context.Context) {
	dir := t.s.cfg.dir
	entries, err := os.ReadDir(dir)
	if err != nil && err.Error() != t.dirErr {
		t.s.cfg.logger.Error("logs: read directory", "dir", dir, "err", err)
	}
	t.dirErr = ""
	if err != nil {
		t.dirErr = err.Error()
	}
	for _, e := range entries {
		name := e.Name()
		if _, ok := t.files[name]; ok || t.skipped[name] || e.IsDir() {
			continue
		}
		if !validName(name) || strings.HasPrefix(name, JobLogPrefix) {
			t.skip(name, "not a valid log name, or reserved for job logs", nil)
			continue
		}
		if info, err := os.Stat(filepath.Join(dir, name)); err != nil || !info.Mode().IsRegular() {
			continue // not (yet) a regular file; look again next time
		}
		if fl := t.follow(ctx, name); fl != nil {
			t.files[name] = fl
		}
	}
	names := make([]string, 0, len(t.files))
	for name := range t.files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if ctx.Err() != nil {
			return
		}
		t.pollFile(ctx, t.files[name])
	}
}

// follow returns a follower for the file name, taking up the stored state
// of its log, or nil if the name belongs to an appended log.
func (t *tailer) follow(ctx context.Context, name string) *follower {
	st := t.s.st
	l, err := st.Get(ctx, Namespace, name)
	if errors.Is(err, store.ErrNotFound) {
		l, err = st.Create(ctx, Namespace, store.Stream{Name: name, Attrs: encodeAttrs(attrs{Source: sourceFile})})
		if errors.Is(err, store.ErrExists) {
			l, err = st.Get(ctx, Namespace, name)
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			t.s.cfg.logger.Error("logs: open file log", "log", name, "err", err)
		}
		return nil
	}
	a, err := decodeAttrs(l.Attrs)
	if err != nil || a.Source != sourceFile {
		t.skip(name, "a log appended over gRPC has this name", err)
		return nil
	}
	fl := &follower{name: name, path: filepath.Join(t.s.cfg.dir, name), saved: a}
	if a.Ino != 0 || a.Pos != 0 {
		fl.restore = &a
	}
	return fl
}

// pollFile reads what is new in one file and stores the entries it
// completes.
func (t *tailer) pollFile(ctx context.Context, fl *follower) {
	now := t.s.cfg.now()
	if fl.f == nil && !fl.open() {
		return
	}
	var entries []string
	info, err := fl.f.Stat()
	if err != nil {
		t.s.cfg.logger.Error("logs: stat tailed file", "log", fl.name, "err", err)
		fl.reload()
		return
	}
	if info.Size() < fl.readPos { // truncated: keep what was held, start again
		entries = fl.take(entries, true)
		if _, err := fl.f.Seek(0, io.SeekStart); err != nil {
			fl.reload()
			return
		}
		fl.readPos = 0
	}
	grew := fl.read(now)
	// The name leads to another file: the old one was rotated. Finish it,
	// then read the new one from its start.
	if cur, err := os.Stat(fl.path); err == nil && !os.SameFile(cur, info) {
		entries = fl.take(entries, true)
		fl.close()
		if fl.open() {
			fl.read(now)
		}
		grew = true
	}
	quiet := !grew && len(fl.buf) > 0 && now.Sub(fl.lastData) >= t.s.cfg.flushAfter
	entries = fl.take(entries, quiet)

	state := attrs{Source: sourceFile, Dev: fl.id.dev, Ino: fl.id.ino, Pos: fl.readPos - int64(len(fl.buf))}
	if len(entries) == 0 && state == fl.saved {
		return
	}
	b := store.Batch{
		Events: make([][]byte, len(entries)),
		Update: func(raw []byte) ([]byte, error) {
			if a, err := decodeAttrs(raw); err != nil || a.Source != sourceFile {
				return nil, errReadOnly
			}
			return encodeAttrs(state), nil
		},
	}
	for i, e := range entries {
		b.Events[i] = []byte(e)
	}
	if _, err := t.s.st.Append(ctx, Namespace, fl.name, b); err != nil {
		if ctx.Err() == nil {
			t.s.cfg.logger.Error("logs: store entries of tailed file", "log", fl.name, "err", err)
		}
		fl.reload() // read again from what was stored
		return
	}
	fl.saved = state
}

// open opens the file at fl.path, going on from fl.restore if it is the
// same file and not shorter. It reports false if there is no regular file.
func (fl *follower) open() bool {
	f, err := os.Open(fl.path)
	if err != nil {
		return false
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		_ = f.Close()
		return false
	}
	fl.f, fl.id, fl.readPos, fl.buf = f, idOf(info), 0, nil
	if r := fl.restore; r != nil {
		fl.restore = nil
		if r.Dev == fl.id.dev && r.Ino == fl.id.ino && r.Pos <= info.Size() {
			if _, err := f.Seek(r.Pos, io.SeekStart); err == nil {
				fl.readPos = r.Pos
			}
		}
	}
	return true
}

func (fl *follower) close() {
	if fl.f != nil {
		_ = fl.f.Close()
		fl.f = nil
	}
}

// reload drops what is in memory so that the next poll reads again from
// the last stored state.
func (fl *follower) reload() {
	fl.close()
	saved := fl.saved
	fl.restore, fl.buf = &saved, nil
}

// read appends what the file has after readPos to buf, up to readBudget,
// and reports whether there was anything.
func (fl *follower) read(now time.Time) bool {
	total := 0
	for total < readBudget {
		if cap(fl.buf)-len(fl.buf) < 32<<10 {
			fl.buf = slices.Grow(fl.buf, 64<<10)
		}
		n, err := fl.f.Read(fl.buf[len(fl.buf):cap(fl.buf)])
		fl.buf = fl.buf[:len(fl.buf)+n]
		fl.readPos += int64(n)
		total += n
		if err != nil || n == 0 {
			break
		}
	}
	if total > 0 {
		fl.lastData = now
	}
	return total > 0
}

// take appends the entries buf completes (all of it with flush) to entries
// and drops their bytes from buf. A held entry that has grown past
// MaxTextLen goes out as it is, cut to size.
func (fl *follower) take(entries []string, flush bool) []string {
	got, used := split(fl.buf, flush)
	entries = append(entries, got...)
	if len(fl.buf)-used > MaxTextLen {
		more, n := split(fl.buf[used:], true)
		entries = append(entries, more...)
		used += n
	}
	fl.buf = append(fl.buf[:0], fl.buf[used:]...)
	return entries
}
