package mvcc

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Revision is a point in the store's history.
type Revision struct {
	// Main is the write transaction's revision.
	Main int64
	// Sub is the change's place within the transaction.
	Sub int64
}

// GreaterThan orders revisions.
func (a Revision) GreaterThan(b Revision) bool {
	if a.Main != b.Main {
		return a.Main > b.Main
	}
	return a.Sub > b.Sub
}

const (
	revBytesLen       = 8 + 1 + 8
	markedRevBytesLen = revBytesLen + 1
	markTombstone     = 't'
)

// revToBytes encodes a revision as a key of bucket "key".
func revToBytes(rev Revision, tombstone bool) []byte {
	n := revBytesLen
	if tombstone {
		n = markedRevBytesLen
	}
	b := make([]byte, n)
	binary.BigEndian.PutUint64(b, uint64(rev.Main))
	b[8] = '_'
	binary.BigEndian.PutUint64(b[9:], uint64(rev.Sub))
	if tombstone {
		b[revBytesLen] = markTombstone
	}
	return b
}

// bytesToRev decodes a key of bucket "key"; ok is false if it is not one.
func bytesToRev(b []byte) (rev Revision, ok bool) {
	if len(b) != revBytesLen && len(b) != markedRevBytesLen {
		return Revision{}, false
	}
	return Revision{
		Main: int64(binary.BigEndian.Uint64(b[:8])),
		Sub:  int64(binary.BigEndian.Uint64(b[9:17])),
	}, true
}

func isTombstone(b []byte) bool {
	return len(b) == markedRevBytesLen && b[revBytesLen] == markTombstone
}

// KeyBucketEntry decodes an entry of the database's key bucket, for tools
// that read a database file: the revision it was written at, the user key,
// and whether it is a deletion.
func KeyBucketEntry(k, v []byte) (rev Revision, key []byte, tombstone bool, err error) {
	rev, ok := bytesToRev(k)
	if !ok {
		return Revision{}, nil, false, fmt.Errorf("not a revision key: %q", k)
	}
	var kv mvccpb.KeyValue
	if err := decodeKV(v, &kv); err != nil {
		return Revision{}, nil, false, fmt.Errorf("value of revision %d_%d: %w", rev.Main, rev.Sub, err)
	}
	return rev, kv.Key, isTombstone(k), nil
}
