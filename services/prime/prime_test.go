package prime_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ssegate/ssegate/services/prime"
)

func TestCountKnownValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		limit          uint32
		count, largest uint32
	}{
		{0, 0, 0},
		{1, 0, 0},
		{2, 0, 0},
		{3, 1, 2},
		{4, 2, 3},
		{5, 2, 3},
		{6, 3, 5},
		{10, 4, 7},
		{11, 4, 7},
		{12, 5, 11},
		{100, 25, 97},
		{1_000, 168, 997},
		{10_000, 1_229, 9_973},
		{1_000_000, 78_498, 999_983},
		{10_000_000, 664_579, 9_999_991},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.limit), func(t *testing.T) {
			t.Parallel()
			count, largest, err := prime.Count(tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if count != tt.count || largest != tt.largest {
				t.Errorf("Count(%d) = %d, %d; want %d, %d", tt.limit, count, largest, tt.count, tt.largest)
			}
		})
	}
}

// naive returns the primes below limit by trial division.
func naive(limit uint32) (count, largest uint32) {
	for n := uint32(2); n < limit; n++ {
		isPrime := true
		for d := uint32(2); d*d <= n; d++ {
			if n%d == 0 {
				isPrime = false
				break
			}
		}
		if isPrime {
			count++
			largest = n
		}
	}
	return count, largest
}

// Small chunks of every parity cross many chunk boundaries, which is where a
// segmented sieve goes wrong.
func TestCounterMatchesTrialDivision(t *testing.T) {
	t.Parallel()
	for _, chunk := range []uint32{2, 3, 7, 64, 101} {
		t.Run(fmt.Sprint("chunk=", chunk), func(t *testing.T) {
			t.Parallel()
			for limit := uint32(0); limit < 1_500; limit += 7 {
				c, err := prime.NewCounter(limit, chunk)
				if err != nil {
					t.Fatal(err)
				}
				for c.Next() {
				}
				got := c.Checkpoint()
				count, largest := naive(limit)
				if got.Count != count || got.Largest != largest || got.Done != limit {
					t.Fatalf("limit %d: got %+v, want count %d largest %d", limit, got, count, largest)
				}
			}
		})
	}
}

func TestResumeFromCheckpoint(t *testing.T) {
	t.Parallel()
	const limit = 1_000_000
	c, err := prime.NewCounter(limit, 30_001)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		c.Next()
	}
	// Go on with another chunk size, as a new process with other options would.
	r, err := prime.Resume(limit, 77_777, c.Checkpoint())
	if err != nil {
		t.Fatal(err)
	}
	chunks := 0
	for r.Next() {
		chunks++
	}
	if got := r.Checkpoint(); got.Count != 78_498 || got.Largest != 999_983 {
		t.Errorf("resumed count = %+v, want 78498 primes, largest 999983", got)
	}
	if want := (limit - 5*30_001 + 77_776) / 77_777; chunks != want {
		t.Errorf("resumed after %d chunks, want %d", chunks, want)
	}
}

func TestResumeRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		limit uint32
		cp    prime.Checkpoint
		want  error
	}{
		{"done past limit", 100, prime.Checkpoint{Done: 101}, prime.ErrCheckpoint},
		{"largest not below done", 100, prime.Checkpoint{Done: 10, Count: 4, Largest: 11}, prime.ErrCheckpoint},
		{"count without largest", 100, prime.Checkpoint{Done: 10, Count: 4}, prime.ErrCheckpoint},
		{"count above done", 100, prime.Checkpoint{Done: 3, Count: 4, Largest: 2}, prime.ErrCheckpoint},
		{"limit too large", prime.MaxLimit + 1, prime.Checkpoint{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := prime.Resume(tt.limit, 0, tt.cp)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("Resume(%d, %+v) error = %v, want %v", tt.limit, tt.cp, err, tt.want)
			}
		})
	}
}

func TestNextAfterFinish(t *testing.T) {
	t.Parallel()
	c, err := prime.NewCounter(10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Next() || c.Next() || !c.Finished() {
		t.Errorf("a count below 10 should take exactly one default chunk")
	}
}

func BenchmarkSieve(b *testing.B) {
	for _, limit := range []uint32{10_000_000, 100_000_000} {
		b.Run(fmt.Sprint(limit), func(b *testing.B) {
			b.SetBytes(int64(limit)) // "bytes" are numbers sieved: MB/s reads as million numbers/s
			for b.Loop() {
				if _, _, err := prime.Count(limit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
