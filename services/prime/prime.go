// Package prime counts the prime numbers below a limit with a segmented sieve
// of Eratosthenes, one chunk at a time, so that a caller can report progress,
// check for cancellation and save a checkpoint between chunks.
//
// Only odd numbers are stored (one byte each), and a chunk is sieved with the
// base primes up to √limit, so memory stays at a chunk plus the base primes
// whatever the limit.
package prime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// MaxLimit is the largest limit a Counter accepts. It keeps every number and
// every square of a base prime inside uint32.
const MaxLimit = 4_000_000_000

// DefaultChunkSize is how many numbers one call to Next sieves unless told
// otherwise: 128 KiB of odd-number flags, which stays in a core's L2 cache.
const DefaultChunkSize = 1 << 18

// ErrCheckpoint reports a checkpoint that cannot come from a Counter with the
// same limit.
var ErrCheckpoint = errors.New("prime: invalid checkpoint")

// Checkpoint is the state of a count after some chunks: every number below
// Done has been sieved, Count primes were found and Largest is the largest.
type Checkpoint struct {
	Done    uint32
	Count   uint32
	Largest uint32
}

// Counter counts the primes below a limit, chunk by chunk. It is not safe
// for concurrent use.
type Counter struct {
	limit uint32
	chunk uint32
	base  []uint32 // odd primes p with p*p < limit, ascending
	seg   []byte   // seg[i] != 0: the odd number lo|1 + 2i is composite
	state Checkpoint
}

// NewCounter returns a Counter for the primes below limit that sieves chunk
// numbers per call to Next; chunk 0 takes DefaultChunkSize.
func NewCounter(limit, chunk uint32) (*Counter, error) {
	return Resume(limit, chunk, Checkpoint{})
}

// Resume returns a Counter that goes on from cp, a checkpoint taken from a
// Counter with the same limit (the chunk size may differ).
func Resume(limit, chunk uint32, cp Checkpoint) (*Counter, error) {
	if limit > MaxLimit {
		return nil, fmt.Errorf("prime: limit %d is above %d", limit, uint32(MaxLimit))
	}
	if cp.Done > limit || cp.Largest >= max(cp.Done, 1) || cp.Count > cp.Done || (cp.Count == 0) != (cp.Largest == 0) {
		return nil, fmt.Errorf("%w: %+v for limit %d", ErrCheckpoint, cp, limit)
	}
	if chunk == 0 {
		chunk = DefaultChunkSize
	}
	chunk = max(chunk, 2)
	return &Counter{limit: limit, chunk: chunk, base: basePrimes(limit), state: cp}, nil
}

// Limit returns the limit the Counter counts below.
func (c *Counter) Limit() uint32 { return c.limit }

// Checkpoint returns the state after the chunks sieved so far.
func (c *Counter) Checkpoint() Checkpoint { return c.state }

// Finished reports whether every number below the limit has been sieved.
func (c *Counter) Finished() bool { return c.state.Done >= c.limit }

// Next sieves the next chunk and reports whether it did any work: false once
// the count is finished.
func (c *Counter) Next() bool {
	if c.Finished() {
		return false
	}
	lo := c.state.Done
	hi := c.limit
	if c.limit-lo > c.chunk {
		hi = lo + c.chunk
	}
	count, largest := c.sieve(lo, hi)
	c.state.Done = hi
	c.state.Count += count
	if largest != 0 {
		c.state.Largest = largest
	}
	return true
}

// sieve counts the primes in [lo, hi) and returns the largest of them (0 if
// there is none).
func (c *Counter) sieve(lo, hi uint32) (count, largest uint32) {
	if lo <= 2 && 2 < hi {
		count, largest = 1, 2
	}
	first := uint64(lo | 1) // the first odd number >= lo
	if first >= uint64(hi) {
		return count, largest
	}
	n := int((uint64(hi) - first + 1) / 2) // odd numbers in [first, hi)
	if cap(c.seg) < n {
		c.seg = make([]byte, n)
	}
	seg := c.seg[:n]
	clear(seg)
	if first == 1 {
		seg[0] = 1 // 1 is not prime
	}
	end := uint64(hi)
	for _, p := range c.base {
		p64 := uint64(p)
		start := p64 * p64
		if start >= end {
			break
		}
		if start < first {
			// The first odd multiple of p at or after first.
			start = (first + p64 - 1) / p64 * p64
			if start&1 == 0 {
				start += p64
			}
		}
		for i := (start - first) / 2; i < uint64(n); i += p64 {
			seg[i] = 1
		}
	}
	top := n - 1
	for top >= 0 && seg[top] != 0 {
		top--
	}
	if top < 0 {
		return count, largest
	}
	seg = seg[:top+1]
	return count + uint32(len(seg)-ones(seg)), uint32(first) + 2*uint32(top)
}

// ones returns how many bytes of b are 1; every byte is 0 or 1, so a word's
// population count is the number of its bytes that are 1.
func ones(b []byte) int {
	n := 0
	for len(b) >= 8 {
		n += bits.OnesCount64(binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	for _, v := range b {
		n += int(v)
	}
	return n
}

// basePrimes returns the odd primes p with p*p < limit.
func basePrimes(limit uint32) []uint32 {
	root := uint32(math.Sqrt(float64(limit)))
	for uint64(root)*uint64(root) >= uint64(limit) && root > 0 {
		root--
	}
	for uint64(root+1)*uint64(root+1) < uint64(limit) {
		root++
	}
	// Plain sieve of the odd numbers up to root.
	composite := make([]bool, root/2+1)
	var primes []uint32
	for p := uint32(3); p <= root; p += 2 {
		if composite[p/2] {
			continue
		}
		primes = append(primes, p)
		for m := uint64(p) * uint64(p); m <= uint64(root); m += 2 * uint64(p) {
			composite[m/2] = true
		}
	}
	return primes
}

// Count returns the number of primes below limit and the largest of them,
// sieving in one go.
func Count(limit uint32) (count, largest uint32, err error) {
	c, err := NewCounter(limit, 0)
	if err != nil {
		return 0, 0, err
	}
	for c.Next() {
	}
	cp := c.Checkpoint()
	return cp.Count, cp.Largest, nil
}
