package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/services/store"
	"github.com/ssegate/ssegate/services/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// bolt is the suite's backend for DB: a directory, which one DB at a time
// may open.
func bolt(t *testing.T) storetest.Backend {
	dir := t.TempDir()
	return func(t *testing.T, o storetest.Options) storetest.Store {
		t.Helper()
		opts := []store.Option{store.WithNoSync(), store.WithPruneInterval(0), store.WithRetention(o.Retention)}
		if o.Now != nil {
			opts = append(opts, store.WithClock(o.Now))
		}
		db, err := store.Open(dir, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
}

func TestSuite(t *testing.T) {
	storetest.Run(t, storetest.Config{New: bolt})
}

// A second process cannot open the file while the first has it.
func TestOneProcessAtATime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := store.Open(dir, store.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Create(context.Background(), "jobs", store.Stream{Name: "j"}); err != nil {
		t.Fatal(err)
	}
	if db2, err := store.Open(dir, store.WithOpenTimeout(50*time.Millisecond)); err == nil {
		_ = db2.Close()
		t.Error("a second Open of the same directory succeeded")
	}
}

func TestResumePoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		field   uint64
		md      []string
		want    uint64
		wantErr bool
	}{
		{0, nil, 0, false},
		{7, nil, 7, false},
		{7, []string{"9"}, 7, false},
		{0, []string{"9"}, 9, false},
		{0, []string{" 12 ", "3"}, 12, false},
		{0, []string{""}, 0, false},
		{0, []string{"18446744073709551615"}, ^uint64(0), false},
		{0, []string{"18446744073709551616"}, 0, true},
		{0, []string{"-1"}, 0, true},
		{0, []string{"abc"}, 0, true},
		{0, []string{"1.5"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.field, tt.md), func(t *testing.T) {
			t.Parallel()
			got, err := store.ResumePoint(tt.field, tt.md)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ResumePoint(%d, %q) = %d, %v", tt.field, tt.md, got, err)
			}
			if err != nil && !errors.Is(err, store.ErrResumePoint) {
				t.Errorf("error %v does not wrap ErrResumePoint", err)
			}
		})
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := map[string][]store.Option{
		"negative retention": {store.WithRetention(store.Retention{MaxEvents: -1})},
		"nil clock":          {store.WithClock(nil)},
		"negative interval":  {store.WithPruneInterval(-time.Second)},
	}
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if db, err := store.Open(t.TempDir(), opts...); err == nil {
				_ = db.Close()
				t.Error("Open succeeded")
			}
		})
	}
	if _, err := store.Open(""); err == nil {
		t.Error("Open without a directory succeeded")
	}
}

// BenchmarkBolt measures DB as production opens it (an fsync per write):
// see storetest's benchmarks.
func BenchmarkBolt(b *testing.B) {
	db, err := store.Open(b.TempDir(), store.WithPruneInterval(0))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.Run("append", func(b *testing.B) { storetest.BenchAppend(b, db) })
	b.Run("fanout100", func(b *testing.B) { storetest.BenchFanOut(b, db, 100) })
	b.Run("latency", func(b *testing.B) { storetest.BenchLatency(b, db) })
}
