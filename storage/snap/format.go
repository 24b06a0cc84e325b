package snap

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/basaltkv/basalt/raft/raftpb"
)

// A .snap file is etcd's snappb.Snapshot in protobuf (see doc.go):
//
//	field 1, varint: crc, the CRC-32C of data
//	field 2, bytes:  data, a raftpb.Snapshot in protobuf
//
// basalt writes the two fields in that order, once each; it reads them in
// any order, as a protobuf decoder does (the last of a repeated field
// wins), and refuses anything else.
const (
	crcTag  = 1<<3 | 0 // field 1, varint
	dataTag = 2<<3 | 2 // field 2, length-delimited
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// encode returns the file contents for s.
func encode(s *raftpb.Snapshot) ([]byte, error) {
	data, err := s.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal snapshot: %w", err)
	}
	b := make([]byte, 0, len(data)+2*binary.MaxVarintLen64)
	b = binary.AppendUvarint(b, crcTag)
	b = binary.AppendUvarint(b, uint64(crc32.Checksum(data, crcTable)))
	b = binary.AppendUvarint(b, dataTag)
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...), nil
}

// decode parses file contents. Every failure wraps ErrCorrupt.
func decode(b []byte) (raftpb.Snapshot, error) {
	var s raftpb.Snapshot
	if len(b) == 0 {
		return s, fmt.Errorf("%w: empty file", ErrCorrupt)
	}
	var (
		crc           uint64
		data          []byte
		haveCRC, have bool
	)
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return s, fmt.Errorf("%w: bad field tag", ErrCorrupt)
		}
		b = b[n:]
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return s, fmt.Errorf("%w: bad value of field %d", ErrCorrupt, tag>>3)
		}
		b = b[n:]
		switch tag {
		case crcTag:
			crc, haveCRC = v, true
		case dataTag:
			if v > uint64(len(b)) {
				return s, fmt.Errorf("%w: data of %d bytes, file has %d left", ErrCorrupt, v, len(b))
			}
			data, have = b[:v], true
			b = b[v:]
		default:
			return s, fmt.Errorf("%w: unexpected field %d (wire type %d)", ErrCorrupt, tag>>3, tag&7)
		}
	}
	if !have || !haveCRC {
		return s, fmt.Errorf("%w: missing crc or data", ErrCorrupt)
	}
	if got := crc32.Checksum(data, crcTable); uint64(got) != crc {
		return s, fmt.Errorf("%w: CRC %08x, file says %08x", ErrCorrupt, got, crc)
	}
	if err := s.Unmarshal(data); err != nil {
		return raftpb.Snapshot{}, fmt.Errorf("%w: undecodable snapshot: %v", ErrCorrupt, err)
	}
	return s, nil
}
