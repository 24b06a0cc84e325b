// Package lease is basalt's lessor: it grants, renews and revokes leases,
// tracks the keys attached to each, and tells the leader which leases have
// expired. The semantics are etcd's, so that clients (and Kubernetes) see
// the same TTLs, errors and expiry behaviour.
//
// # Who does what
//
// Every change to durable state arrives through raft and is applied with a
// transaction the caller already holds (Tx): Grant, Revoke and Checkpoint
// write the lease record, and Revoke deletes the attached keys through
// mvcc, in the same backend batch as the raft entry's consistent index. A
// crash therefore loses a lease change together with the entry that made
// it, and the WAL replay redoes both.
//
// Renewals and expiry are not replicated: only the primary lessor (the one
// on the raft leader, after Promote) keeps expiry times. It renews leases
// in memory and hands expired leases out on ExpiredLeasesC; the leader
// then revokes them through raft like a client would. A follower's leases
// never expire (their expiry is "forever") until it is promoted, when
// every lease is given a fresh TTL plus the election timeout, so that a
// leader change never expires a lease its client kept alive.
//
// Because expiry lives only on the leader, a leader change would restart
// every lease's clock. Checkpoints bound that: when a checkpointer is set,
// the primary periodically proposes each long lease's remaining TTL
// through raft; Checkpoint persists it, and Promote starts the lease from
// it instead of from the full TTL.
//
// The keys attached to a lease are not persisted here: mvcc stores each
// key's lease with the key and re-attaches them as it rebuilds its index,
// which is why Recover starts with no attachments.
//
// # On disk
//
// Bucket "lease" (BucketName) of the backend holds one record per lease,
// the layout etcd uses so that etcd's tools read basalt's snapshots and
// the other way around:
//
//   - key: the lease ID as 8 bytes, big-endian (two's complement for the
//     negative IDs a client may choose);
//   - value: the protobuf encoding of etcd's leasepb.Lease, three int64
//     fields as varints: 1 ID, 2 TTL (seconds, after raising it to the
//     minimum TTL), 3 RemainingTTL (seconds, the last checkpoint; 0 when
//     none). Zero fields are omitted, as proto3 does.
//
// Records are written on Grant and Checkpoint and deleted on Revoke; no
// expiry time is ever stored. The bucket is created by CreateBucket, which
// the server calls once when it opens the backend (it is idempotent);
// Grant and Checkpoint fail if it does not exist.
//
// # Caveats
//
// Grant, Revoke, Checkpoint, Attach and Detach are meant to be called by
// the single goroutine applying raft entries; Renew, Lookup and the
// accessors are safe from any goroutine. Revoke calls Tx.DeleteRange
// without holding the lessor's lock, because mvcc detaches each deleted
// key from its lease (Detach) from inside that call.
package lease
