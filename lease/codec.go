package lease

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// BucketName is the backend bucket holding lease records; see the package
// documentation for their layout.
const BucketName = "lease"

var bucket = []byte(BucketName)

// BucketCreator is the part of the backend's batch that CreateBucket
// needs.
type BucketCreator interface {
	UnsafeCreateBucket(name []byte) error
}

// CreateBucket creates the lease bucket if it does not exist. The server
// calls it, with the batch locked, when it opens the backend: the Tx given
// to Grant and Checkpoint cannot create buckets.
func CreateBucket(tx BucketCreator) error {
	if err := tx.UnsafeCreateBucket(bucket); err != nil {
		return fmt.Errorf("create lease bucket: %w", err)
	}
	return nil
}

// leaseKey is a lease record's backend key: the ID, 8 bytes big-endian.
func leaseKey(id ID) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(id))
}

func idFromKey(k []byte) (ID, error) {
	if len(k) != 8 {
		return NoLease, fmt.Errorf("lease record key %x: %d bytes, want 8", k, len(k))
	}
	return ID(binary.BigEndian.Uint64(k)), nil
}

// record is a lease as persisted: etcd's leasepb.Lease.
type record struct {
	ID           int64
	TTL          int64
	RemainingTTL int64
}

// Protobuf field numbers of leasepb.Lease, all of wire type varint.
const (
	fieldID           = 1
	fieldTTL          = 2
	fieldRemainingTTL = 3

	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// marshal encodes r exactly as etcd's generated code does: fields in
// order, zero values omitted, negative numbers as 10-byte varints. Being
// byte-identical (not merely decodable) keeps the backend hash of a basalt
// member equal to an etcd member's over the same data.
func (r record) marshal() []byte {
	b := make([]byte, 0, 3*(1+binary.MaxVarintLen64))
	for _, f := range [...]struct {
		num int
		v   int64
	}{{fieldID, r.ID}, {fieldTTL, r.TTL}, {fieldRemainingTTL, r.RemainingTTL}} {
		if f.v == 0 {
			continue
		}
		b = append(b, byte(f.num<<3|wireVarint))
		b = binary.AppendUvarint(b, uint64(f.v))
	}
	return b
}

var errTruncated = errors.New("truncated")

// unmarshalRecord decodes a leasepb.Lease as any protobuf decoder would:
// fields in any order, the last occurrence winning, unknown fields
// skipped (a newer etcd may add some).
func unmarshalRecord(b []byte) (record, error) {
	var r record
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return r, fmt.Errorf("field tag: %w", errTruncated)
		}
		b = b[n:]
		num, wire := tag>>3, tag&7
		if num == 0 || num > 1<<29-1 {
			return r, fmt.Errorf("invalid field number %d", num)
		}
		var field *int64
		switch num {
		case fieldID:
			field = &r.ID
		case fieldTTL:
			field = &r.TTL
		case fieldRemainingTTL:
			field = &r.RemainingTTL
		}
		if field != nil && wire != wireVarint {
			return r, fmt.Errorf("field %d: wire type %d, want varint", num, wire)
		}
		switch wire {
		case wireVarint:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return r, fmt.Errorf("field %d: bad varint", num)
			}
			b = b[n:]
			if field != nil {
				*field = int64(v)
			}
		case wireFixed64:
			if len(b) < 8 {
				return r, fmt.Errorf("field %d: %w", num, errTruncated)
			}
			b = b[8:]
		case wireFixed32:
			if len(b) < 4 {
				return r, fmt.Errorf("field %d: %w", num, errTruncated)
			}
			b = b[4:]
		case wireBytes:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return r, fmt.Errorf("field %d: %w", num, errTruncated)
			}
			b = b[n+int(l):]
		default:
			return r, fmt.Errorf("field %d: unsupported wire type %d", num, wire)
		}
	}
	return r, nil
}

// decodeRecord decodes one entry of the lease bucket, checking that the
// key and the ID inside the value agree.
func decodeRecord(k, v []byte) (record, error) {
	id, err := idFromKey(k)
	if err != nil {
		return record{}, err
	}
	r, err := unmarshalRecord(v)
	if err != nil {
		return record{}, fmt.Errorf("lease %v: decode record: %w", id, err)
	}
	if ID(r.ID) != id {
		return record{}, fmt.Errorf("lease %v: record holds ID %v", id, ID(r.ID))
	}
	return r, nil
}

// Tx is the write transaction of the raft entry being applied: key
// deletions go through mvcc, lease records through the backend, all in
// one atomic batch.
type Tx interface {
	// DeleteRange deletes the keys in [key, end), or key alone when end is
	// nil, through mvcc, which detaches them from their lease.
	DeleteRange(key, end []byte) (n, rev int64)
	UnsafePut(bucket, key, value []byte) error
	UnsafeDelete(bucket, key []byte) error
}

// ReadTx reads the backend when recovering; backend.ReadTx is one.
type ReadTx interface {
	ForEach(bucket []byte, f func(k, v []byte) error) error
}

func putRecord(tx Tx, r record) error {
	if err := tx.UnsafePut(bucket, leaseKey(ID(r.ID)), r.marshal()); err != nil {
		return fmt.Errorf("persist lease %v: %w", ID(r.ID), err)
	}
	return nil
}
