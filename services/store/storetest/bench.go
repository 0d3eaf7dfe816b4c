package storetest

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssegate/ssegate/services/store"
)

// EventSize is the size of the events the benchmarks append: about a
// job's progress event with its envelope.
const EventSize = 128

var benchStreams atomic.Int64

// newBenchStream creates a stream of its own for one benchmark run.
func newBenchStream(b *testing.B, st store.Streams) string {
	b.Helper()
	name := fmt.Sprintf("bench-%d", benchStreams.Add(1))
	if _, err := st.Create(context.Background(), "bench", store.Stream{Name: name}); err != nil {
		b.Fatal(err)
	}
	return name
}

// stamped is an event of EventSize bytes that starts with the time.
func stamped() [][]byte {
	e := make([]byte, EventSize)
	binary.BigEndian.PutUint64(e, uint64(time.Now().UnixNano()))
	return [][]byte{e}
}

func since(data []byte) time.Duration {
	return time.Duration(time.Now().UnixNano() - int64(binary.BigEndian.Uint64(data)))
}

// BenchAppend appends b.N one-event batches to one stream, each once the
// previous one is stored, and reports appends/s.
func BenchAppend(b *testing.B, st store.Streams) {
	name := newBenchStream(b, st)
	ctx := context.Background()
	b.SetBytes(EventSize)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := st.Append(ctx, "bench", name, store.Batch{Events: stamped()}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
}

// BenchFanOut has watchers follow one stream (store.Follow, in this
// process) and appends b.N events, each once every watcher has the one
// before: an op is one event delivered to all of them. It reports the
// deliveries per second and the time from each append to each watcher's
// receipt, p50 and p99.
func BenchFanOut(b *testing.B, st store.Streams, watchers int) {
	name := newBenchStream(b, st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type receipt struct{ d time.Duration }
	got := make(chan receipt, watchers)
	errs := make(chan error, watchers)
	for range watchers {
		go func() {
			errs <- store.Follow(ctx, st, "bench", name, 0, true, func(e store.Event) error {
				got <- receipt{since(e.Data)}
				return nil
			})
		}()
	}
	lat := make([]time.Duration, 0, b.N*watchers)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := st.Append(ctx, "bench", name, store.Batch{Events: stamped()}); err != nil {
			b.Fatal(err)
		}
		for range watchers {
			select {
			case r := <-got:
				lat = append(lat, r.d)
			case err := <-errs:
				b.Fatalf("a watcher stopped: %v", err)
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*watchers)/elapsed.Seconds(), "deliveries/s")
	reportLatency(b, lat)
	cancel()
	for range watchers {
		<-errs
	}
}

// BenchLatency is BenchFanOut with one watcher: the time from an append
// to the watcher's receipt.
func BenchLatency(b *testing.B, st store.Streams) { BenchFanOut(b, st, 1) }

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds())
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}
