package mvcc

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// The values of bucket "key" are mvccpb.KeyValue in protobuf wire format.
// This codec writes and reads that format directly: it is on every write
// and every read, and reflection-based marshalling costs several times as
// much. kvcodec_test checks it against the protobuf library.

var errBadKV = errors.New("mvcc: malformed key-value record")

func appendVarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendTagBytes(b []byte, field byte, v []byte) []byte {
	b = append(b, field<<3|2)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendTagVarint(b []byte, field byte, v int64) []byte {
	b = append(b, field<<3)
	return appendVarint(b, uint64(v))
}

// encodeKV encodes kv as protobuf, omitting zero fields as proto3 does.
func encodeKV(kv *mvccpb.KeyValue) []byte {
	n := len(kv.Key) + len(kv.Value) + 4*11 + 2*10
	b := make([]byte, 0, n)
	if len(kv.Key) > 0 {
		b = appendTagBytes(b, 1, kv.Key)
	}
	if kv.CreateRevision != 0 {
		b = appendTagVarint(b, 2, kv.CreateRevision)
	}
	if kv.ModRevision != 0 {
		b = appendTagVarint(b, 3, kv.ModRevision)
	}
	if kv.Version != 0 {
		b = appendTagVarint(b, 4, kv.Version)
	}
	if len(kv.Value) > 0 {
		b = appendTagBytes(b, 5, kv.Value)
	}
	if kv.Lease != 0 {
		b = appendTagVarint(b, 6, kv.Lease)
	}
	return b
}

// decodeKV decodes a record into kv. Key and Value are copied: the input
// may live in bbolt's memory map.
func decodeKV(data []byte, kv *mvccpb.KeyValue) error {
	return decodeFields(data, kv, true)
}

func decodeFields(data []byte, kv *mvccpb.KeyValue, withValue bool) error {
	for len(data) > 0 {
		tag, n := binary.Uvarint(data)
		if n <= 0 {
			return errBadKV
		}
		data = data[n:]
		field, wire := tag>>3, tag&7
		switch wire {
		case 0:
			v, n := binary.Uvarint(data)
			if n <= 0 {
				return errBadKV
			}
			data = data[n:]
			switch field {
			case 2:
				kv.CreateRevision = int64(v)
			case 3:
				kv.ModRevision = int64(v)
			case 4:
				kv.Version = int64(v)
			case 6:
				kv.Lease = int64(v)
			}
		case 2:
			l, n := binary.Uvarint(data)
			if n <= 0 || l > uint64(len(data)-n) {
				return errBadKV
			}
			v := data[n : n+int(l)]
			data = data[n+int(l):]
			switch field {
			case 1:
				kv.Key = append([]byte(nil), v...)
			case 5:
				if withValue {
					kv.Value = append([]byte(nil), v...)
				}
			}
		case 1:
			if len(data) < 8 {
				return errBadKV
			}
			data = data[8:]
		case 5:
			if len(data) < 4 {
				return errBadKV
			}
			data = data[4:]
		default:
			return fmt.Errorf("%w: wire type %d", errBadKV, wire)
		}
	}
	return nil
}

// decodeMeta decodes a record without its value: rebuilding the index on
// start needs nothing else.
func decodeMeta(data []byte, kv *mvccpb.KeyValue) error {
	return decodeFields(data, kv, false)
}
