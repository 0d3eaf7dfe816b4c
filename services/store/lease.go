package store

import (
	"context"
	"errors"
	"time"
)

// Errors of leases.
var (
	// ErrLeaseHeld means Acquire found the lease held by another owner.
	ErrLeaseHeld = errors.New("store: lease held by another owner")
	// ErrLeaseLost means a lease lapsed or was taken before Renew.
	ErrLeaseLost = errors.New("store: lease lost")
)

// Leases grant exclusive claims that lapse unless renewed, so that replicas
// of a service sharing a store share its work: the replica that holds a
// job's lease runs it, and when that replica dies the lease lapses and
// another takes the job over. A lease only says who should do the work;
// whoever writes must still check, in the same Batch, that the stream says
// it is theirs (a replica that lost its lease may not know it yet).
type Leases interface {
	// Acquire claims name for owner for ttl, or returns ErrLeaseHeld.
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (Lease, error)
}

// Lease is a claim Acquire granted.
type Lease interface {
	// Renew extends the lease by its ttl from now, or returns ErrLeaseLost
	// once it has lapsed or is another's.
	Renew(ctx context.Context) error
	// Release gives the lease up at once, if it is still held.
	Release(ctx context.Context) error
}
