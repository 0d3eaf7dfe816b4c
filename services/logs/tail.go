package logs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ssegate/ssegate/services/store"
)

// readBudget bounds what one poll reads from one file, so that a huge file
// is stored in steps and other files are not starved.
const readBudget = 4 << 20

// errNotRegular refuses a directory entry that is not a regular file.
var errNotRegular = errors.New("logs: not a regular file")

// tailer follows the regular files of a directory by polling, like
// `tail -F`: it picks up new files, reads what files append, and notices
// rotation (the name now leads to another file: the rest of the old one is
// read, then the new one from its start) and truncation (the file is shorter
// than what was read: it is read again from its start). What it reads
// becomes entries (see split) stored together with the file's identity and
// the offset they reach, so a new process goes on where the last one
// stopped. A file replaced while no process ran is read from its start. Not
// noticed (tail has the same limits): a file truncated and grown past the
// read offset between two polls, a file replaced by one that got the same
// inode and is at least as long, and bytes rewritten in place.
//
// Only what the directory holds is read: every name is opened through an
// os.Root, so a symbolic link is followed only while it stays inside the
// directory (relative links; os.Root refuses absolute ones even when they
// lead back in), and what was opened is refused unless fstat says it is a
// regular file. Opens never block (O_NONBLOCK: a FIFO's open would wait for
// a writer), and a file is read only up to the size fstat reports, so a file
// whose size stays 0 is never read (files in /proc report 0 and yet have
// content). Hard links and mount points inside the directory are not told
// apart from the files they lead to (mounting takes root; Linux's
// protected_hardlinks lets a user link only files they may read and write).
// A refused name is reported once, at warn level, and looked at again at
// each poll, so it is tailed once it is a regular file.
type tailer struct {
	s       *Service
	files   map[string]*follower
	skipped map[string]bool // names already reported as skipped, for good
	refused map[string]bool // names reported as refused, until they open
	dirErr  string          // last directory error reported
	// open opens a name of the directory: openRegular, or a wrapper of it
	// in tests.
	open func(root *os.Root, name string) (tailFile, fs.FileInfo, error)
}

// tailFile is what the tailer needs of an open file.
type tailFile interface {
	io.ReaderAt
	io.Closer
	Stat() (fs.FileInfo, error)
}

// follower is the state of one tailed file.
type follower struct {
	name     string
	f        tailFile // nil while the name leads to no file that can be tailed
	id       fileID
	readPos  int64  // offset in f after buf
	buf      []byte // bytes read but not yet stored as entries
	lastData time.Time
	saved    attrs  // the state stored with the last entries
	restore  *attrs // the stored state to go on from when f is opened
}

func newTailer(s *Service) *tailer {
	return &tailer{
		s:       s,
		files:   make(map[string]*follower),
		skipped: make(map[string]bool),
		refused: make(map[string]bool),
		open:    openRegular,
	}
}

// openRegular opens name inside root, without blocking, and returns it if
// it is a regular file.
func openRegular(root *os.Root, name string) (tailFile, fs.FileInfo, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat() // of what was opened, not of what the name leads to now
	if err == nil && !info.Mode().IsRegular() {
		err = errNotRegular
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, info, nil
}

// openRoot opens dir. The path ends in "/." so that a dir replaced by
// something else fails at once (ENOTDIR) instead of being opened: os.OpenRoot
// opens without O_DIRECTORY, and the open of a FIFO would block.
func openRoot(dir string) (*os.Root, error) {
	return os.OpenRoot(dir + string(os.PathSeparator) + ".")
}

func (t *tailer) run(ctx context.Context) {
	tick := time.NewTicker(t.s.cfg.pollInterval)
	defer tick.Stop()
	defer t.close()
	for {
		t.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *tailer) close() {
	for _, fl := range t.files {
		fl.close()
	}
}

func (t *tailer) skip(name, why string, err error) {
	if !t.skipped[name] {
		t.skipped[name] = true
		t.s.cfg.logger.Warn("logs: file not tailed", "file", name, "reason", why, "err", err)
	}
}

// refuse reports once that name cannot be tailed for now: err says why.
// A name that leads to nothing (removed, or a link to a file still to come)
// is not reported.
func (t *tailer) refuse(root *os.Root, name string, err error) {
	if errors.Is(err, fs.ErrNotExist) || t.refused[name] {
		return
	}
	t.refused[name] = true
	// Only the name: the error would tell the directory's path, and the
	// reason must not tell where a link leads.
	why := "cannot be opened"
	switch info, lerr := root.Lstat(name); {
	case errors.Is(err, errNotRegular):
		why = "not a regular file"
	case errors.Is(err, fs.ErrPermission):
		why = "permission denied"
	case lerr == nil && info.Mode()&fs.ModeSymlink != 0:
		why = "a symbolic link that leaves the directory or cannot be followed"
	}
	t.s.cfg.logger.Warn("logs: file not tailed", "file", name, "reason", why)
}

// readDir lists the names in root.
func readDir(root *os.Root) ([]fs.DirEntry, error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, err
}

// poll looks for new files, then polls every followed file once.
func (t *tailer) poll(ctx context.Context) {
	dir := t.s.cfg.dir
	var entries []fs.DirEntry
	root, err := openRoot(dir)
	if err == nil {
		defer root.Close()
		entries, err = readDir(root)
	}
	if err != nil && err.Error() != t.dirErr {
		t.s.cfg.logger.Error("logs: read directory", "dir", dir, "err", err)
	}
	t.dirErr = ""
	if err != nil {
		t.dirErr = err.Error()
	}
	for _, e := range entries {
		name := e.Name()
		if _, ok := t.files[name]; ok || t.skipped[name] {
			continue
		}
		if !validName(name) || strings.HasPrefix(name, JobLogPrefix) {
			t.skip(name, "not a valid log name, or reserved for job logs", nil)
			continue
		}
		// What the listing already tells is not a file is not opened at
		// all (opening a device can do things); the rest is checked on
		// what open returns.
		if typ := e.Type(); typ != 0 && typ != fs.ModeSymlink {
			t.refuse(root, name, errNotRegular)
			continue
		}
		// Opened before its log exists, so that nothing that cannot be
		// tailed is ever listed.
		f, info, err := t.open(root, name)
		if err != nil {
			t.refuse(root, name, err)
			continue
		}
		fl := t.follow(ctx, name)
		if fl == nil {
			_ = f.Close()
			continue
		}
		delete(t.refused, name)
		fl.attach(f, info)
		t.files[name] = fl
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
		t.pollFile(ctx, root, t.files[name])
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
	fl := &follower{name: name, saved: a}
	if a.Ino != 0 || a.Pos != 0 {
		fl.restore = &a
	}
	return fl
}

// reopen opens the file of fl again, inside root (nil when the directory
// could not be opened). It reports false if fl.name leads to no file that
// can be tailed.
func (t *tailer) reopen(root *os.Root, fl *follower) bool {
	if root == nil {
		return false
	}
	f, info, err := t.open(root, fl.name)
	if err != nil {
		t.refuse(root, fl.name, err)
		return false
	}
	delete(t.refused, fl.name)
	fl.attach(f, info)
	return true
}

// replaced reports whether fl.name no longer leads to the file fl reads,
// whose fstat is info: it leads to another file, or somewhere it may not.
// A removed name is not replaced: the file may still grow, as with tail -F.
func replaced(root *os.Root, fl *follower, info fs.FileInfo) bool {
	if root == nil {
		return false
	}
	cur, err := root.Stat(fl.name)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	return !os.SameFile(cur, info)
}

// pollFile reads what is new in one file and stores the entries it
// completes.
func (t *tailer) pollFile(ctx context.Context, root *os.Root, fl *follower) {
	now := t.s.cfg.now()
	if fl.f == nil && !t.reopen(root, fl) {
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
		fl.readPos = 0
	}
	grew := fl.read(info.Size(), now)
	// The name leads to another file: the old one was rotated. Finish it,
	// then read the new one from its start.
	if replaced(root, fl, info) {
		entries = fl.take(entries, true)
		fl.close()
		if t.reopen(root, fl) {
			if info, err := fl.f.Stat(); err == nil {
				fl.read(info.Size(), now)
			}
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

// attach makes f, whose fstat is info, the file fl reads, going on from
// fl.restore if it is the same file and not shorter.
func (fl *follower) attach(f tailFile, info fs.FileInfo) {
	fl.f, fl.id, fl.readPos, fl.buf = f, idOf(info), 0, nil
	if r := fl.restore; r != nil {
		fl.restore = nil
		if r.Dev == fl.id.dev && r.Ino == fl.id.ino && r.Pos <= info.Size() {
			fl.readPos = r.Pos
		}
	}
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

// read appends what the file has between readPos and size (what fstat
// said) to buf, up to readBudget, and reports whether there was anything.
// Nothing is read when the file has not grown.
func (fl *follower) read(size int64, now time.Time) bool {
	total := 0
	for total < readBudget && fl.readPos < size {
		if cap(fl.buf)-len(fl.buf) < 32<<10 {
			fl.buf = slices.Grow(fl.buf, 64<<10)
		}
		room := fl.buf[len(fl.buf):cap(fl.buf)]
		room = room[:min(int64(len(room)), size-fl.readPos)]
		n, err := fl.f.ReadAt(room, fl.readPos)
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
