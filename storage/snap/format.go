package snap

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/basaltkv/basalt/raft/raftpb"
)

// File layout (integers little-endian), see doc.go:
//
//	0:4   magic "BSNP"
//	4:8   format version (1)
//	8:16  n, length of the payload
//	16:20 CRC-32C of bytes 0:16 followed by the payload
//	20:24 zero
//	24:   payload: raftpb.Snapshot in protobuf, n bytes, then end of file
const (
	fileMagic   = "BSNP"
	fileVersion = 1
	headerSize  = 24
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// encode returns the file contents for s.
func encode(s *raftpb.Snapshot) ([]byte, error) {
	n := s.Size()
	b := make([]byte, headerSize+n)
	if _, err := s.MarshalToSizedBuffer(b[headerSize:]); err != nil {
		return nil, fmt.Errorf("marshal snapshot: %w", err)
	}
	copy(b[0:4], fileMagic)
	binary.LittleEndian.PutUint32(b[4:8], fileVersion)
	binary.LittleEndian.PutUint64(b[8:16], uint64(n))
	crc := crc32.Update(crc32.Checksum(b[0:16], crcTable), crcTable, b[headerSize:])
	binary.LittleEndian.PutUint32(b[16:20], crc)
	return b, nil
}

// decode parses file contents. Every failure wraps ErrCorrupt.
func decode(b []byte) (raftpb.Snapshot, error) {
	var s raftpb.Snapshot
	if len(b) < headerSize {
		return s, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrCorrupt, len(b), headerSize)
	}
	if string(b[0:4]) != fileMagic {
		return s, fmt.Errorf("%w: bad magic %q", ErrCorrupt, b[0:4])
	}
	if v := binary.LittleEndian.Uint32(b[4:8]); v != fileVersion {
		return s, fmt.Errorf("%w: unsupported format version %d", ErrCorrupt, v)
	}
	if n := binary.LittleEndian.Uint64(b[8:16]); n != uint64(len(b)-headerSize) {
		return s, fmt.Errorf("%w: header says %d payload bytes, file has %d", ErrCorrupt, n, len(b)-headerSize)
	}
	if binary.LittleEndian.Uint32(b[20:24]) != 0 {
		return s, fmt.Errorf("%w: non-zero reserved header bytes", ErrCorrupt)
	}
	crc := crc32.Update(crc32.Checksum(b[0:16], crcTable), crcTable, b[headerSize:])
	if want := binary.LittleEndian.Uint32(b[16:20]); crc != want {
		return s, fmt.Errorf("%w: CRC %08x, header says %08x", ErrCorrupt, crc, want)
	}
	if err := s.Unmarshal(b[headerSize:]); err != nil {
		return raftpb.Snapshot{}, fmt.Errorf("%w: undecodable payload: %v", ErrCorrupt, err)
	}
	return s, nil
}
