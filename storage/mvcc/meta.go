package mvcc

import "encoding/binary"

// MetaReader reads one key of a bucket (a backend.ReadTx).
type MetaReader interface {
	Get(bucket, key []byte) ([]byte, bool)
}

// ReadConsistentIndex reads the consistent index and its term from the
// meta bucket through r, without building a store (0 if absent).
func ReadConsistentIndex(r MetaReader) (index, term uint64) {
	if v, ok := r.Get(MetaBucket, consistentIndexKey); ok && len(v) == 8 {
		index = binary.BigEndian.Uint64(v)
	}
	if v, ok := r.Get(MetaBucket, termKey); ok && len(v) == 8 {
		term = binary.BigEndian.Uint64(v)
	}
	return index, term
}
