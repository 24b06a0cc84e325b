package lease

import "errors"

// The lessor's sentinel errors. Their texts are those of etcd's lease
// package; the API layer maps them to rpctypes (ErrLeaseNotFound to
// "etcdserver: requested lease not found", and so on). They are returned
// unwrapped by the lessor, but callers should still test them with
// errors.Is.
var (
	// ErrNotPrimary: Renew was called on a lessor that is not the
	// primary (not on the raft leader, or demoted meanwhile); the server
	// forwards the renewal to the leader.
	ErrNotPrimary = errors.New("not a primary lessor")
	// ErrLeaseNotFound: no lease with that ID (never granted, revoked, or
	// expired and revoked while a renewal waited).
	ErrLeaseNotFound = errors.New("lease not found")
	// ErrLeaseExists: Grant of an ID already in use.
	ErrLeaseExists = errors.New("lease already exists")
	// ErrLeaseTTLTooLarge: Grant with a TTL above MaxLeaseTTL.
	ErrLeaseTTLTooLarge = errors.New("too large lease TTL")
)
