package logs

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ssegate/ssegate/services/store"
)

// countingFile counts what the tailer reads of a file. With fake set, reads
// return fake instead of the file's bytes, as reads of /proc/self/environ
// return its content although fstat says it is empty.
type countingFile struct {
	tailFile
	reads, bytes *int
	fake         []byte
}

func (f countingFile) ReadAt(p []byte, off int64) (int, error) {
	*f.reads++
	if f.fake != nil {
		if off >= int64(len(f.fake)) {
			return 0, io.EOF
		}
		n := copy(p, f.fake[off:])
		*f.bytes += n
		return n, nil
	}
	n, err := f.tailFile.ReadAt(p, off)
	*f.bytes += n
	return n, err
}

// A file is read only where it grew: polled again and again, an empty
// file is never read, a file whose fstat says empty is never read whatever
// its reads would give, and a file that grows has each byte read once.
// The tailer is polled directly, without its goroutine.
func TestTailReadsOnlyWhatIsNew(t *testing.T) {
	t.Parallel()
	const polls = 100
	tests := []struct {
		name      string
		content   []string // written before the first polls, then appended, polls times each
		fake      []byte
		wantReads int
		wantBytes int
		wantLast  uint64 // entries stored
	}{
		{name: "empty", content: []string{""}},
		{name: "empty to fstat, not to read", content: []string{""}, fake: []byte("SSEGATE_SESSION_SECRET=hunter2\n")},
		{name: "grows", content: []string{"a\nb\n", "", "c\n", ""}, wantReads: 2, wantBytes: 6, wantLast: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dir := t.TempDir()
			db, err := store.Open(t.TempDir(), store.WithNoSync(), store.WithPruneInterval(0))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			// No WithDir: no tailer goroutine; this test polls its own.
			s, err := New(db, WithFlushAfter(0), WithClock(func() time.Time { return time.Unix(1, 0) }))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			s.cfg.dir = dir
			tl := newTailer(s)
			t.Cleanup(tl.close)
			var reads, bytes int
			tl.open = func(root *os.Root, name string) (tailFile, fs.FileInfo, error) {
				f, info, err := openRegular(root, name)
				if err != nil {
					return nil, nil, err
				}
				return countingFile{tailFile: f, reads: &reads, bytes: &bytes, fake: tt.fake}, info, nil
			}

			path := filepath.Join(dir, "f.log")
			for _, c := range tt.content {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteString(c); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				for range polls {
					tl.poll(ctx)
				}
			}
			if reads != tt.wantReads || bytes != tt.wantBytes {
				t.Errorf("%d polls read %d times, %d bytes; want %d times, %d bytes", polls*len(tt.content), reads, bytes, tt.wantReads, tt.wantBytes)
			}
			l, err := db.Get(ctx, Namespace, "f.log")
			if err != nil {
				t.Fatal(err)
			}
			if l.Last != tt.wantLast {
				t.Errorf("%d entries stored, want %d", l.Last, tt.wantLast)
			}
		})
	}
}
