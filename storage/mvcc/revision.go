package mvcc

import "encoding/binary"

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
