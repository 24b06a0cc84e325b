package wal

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"slices"
)

// Frame layout (all integers little-endian), see doc.go:
//
//	0:4   data length n
//	4     record type
//	5:8   zero
//	8:12  chained CRC: crc32c(previous record's CRC; bytes 0:8, then data)
//	12:16 header CRC: crc32c(bytes 0:12)
//	16:   n bytes of data, then zeros up to a multiple of 8
const (
	headerSize  = 16
	recordAlign = 8
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type recordType uint8

const (
	crcType       recordType = 1 // first in every segment: carries the running CRC
	metadataType  recordType = 2
	hardStateType recordType = 3
	entryType     recordType = 4
	snapshotType  recordType = 5
)

func (t recordType) valid() bool { return t >= crcType && t <= snapshotType }

func (t recordType) String() string {
	switch t {
	case crcType:
		return "crc"
	case metadataType:
		return "metadata"
	case hardStateType:
		return "hardstate"
	case entryType:
		return "entry"
	case snapshotType:
		return "snapshot"
	}
	return "unknown"
}

// frameSize is the bytes a record with n bytes of data takes on disk.
func frameSize(n int) int {
	return headerSize + (n+recordAlign-1)&^(recordAlign-1)
}

// appendFrame appends a record of type typ with n bytes of data, written
// by fill, to buf, and returns buf and the record's chained CRC.
func appendFrame(buf []byte, typ recordType, prevCRC uint32, n int, fill func(data []byte) error) ([]byte, uint32, error) {
	start := len(buf)
	size := frameSize(n)
	buf = slices.Grow(buf, size)[:start+size]
	rec := buf[start:]
	clear(rec[:headerSize])
	binary.LittleEndian.PutUint32(rec[0:4], uint32(n))
	rec[4] = byte(typ)
	data := rec[headerSize : headerSize+n]
	if fill != nil {
		if err := fill(data); err != nil {
			return buf[:start], prevCRC, err
		}
	}
	clear(rec[headerSize+n:])
	crc := crc32.Update(prevCRC, crcTable, rec[0:8])
	crc = crc32.Update(crc, crcTable, data)
	binary.LittleEndian.PutUint32(rec[8:12], crc)
	binary.LittleEndian.PutUint32(rec[12:16], crc32.Checksum(rec[0:12], crcTable))
	return buf, crc, nil
}

func appendBytesFrame(buf []byte, typ recordType, prevCRC uint32, data []byte) ([]byte, uint32) {
	buf, crc, _ := appendFrame(buf, typ, prevCRC, len(data), func(d []byte) error {
		copy(d, data)
		return nil
	})
	return buf, crc
}

type frameStatus uint8

const (
	frameOK        frameStatus = iota
	frameZero                  // zeros where a header should be: no more records
	frameShort                 // the frame runs past the end of the file
	frameBadHeader             // header fails its checksum or has bad fields
	frameBadCRC                // header fine, chained CRC of the record wrong
)

type frame struct {
	typ  recordType
	data []byte
	crc  uint32 // chained CRC stored in the record
	size int    // bytes on disk, when the header is valid
}

// headerOK reports whether h (at least headerSize bytes) is a well-formed
// header: its checksum matches, its type is known, its spare bytes zero.
func headerOK(h []byte) bool {
	return recordType(h[4]).valid() && h[5] == 0 && h[6] == 0 && h[7] == 0 &&
		binary.LittleEndian.Uint32(h[12:16]) == crc32.Checksum(h[0:12], crcTable)
}

// decodeFrame decodes the record at the start of b, whose chain starts
// from prevCRC. The returned frame's size is set whenever the header is
// valid, even if the record is not.
func decodeFrame(b []byte, prevCRC uint32) (frame, frameStatus, string) {
	if isZero(b[:min(len(b), headerSize)]) {
		return frame{}, frameZero, ""
	}
	if len(b) < headerSize {
		return frame{}, frameShort, "partial record header at end of file"
	}
	h := b[:headerSize]
	if !headerOK(h) {
		return frame{}, frameBadHeader, "bad record header"
	}
	n := int(binary.LittleEndian.Uint32(h[0:4]))
	f := frame{typ: recordType(h[4]), crc: binary.LittleEndian.Uint32(h[8:12]), size: frameSize(n)}
	if f.size > len(b) {
		return f, frameShort, "record runs past end of file"
	}
	f.data = b[headerSize : headerSize+n]
	crc := crc32.Update(prevCRC, crcTable, h[0:8])
	crc = crc32.Update(crc, crcTable, f.data)
	if crc != f.crc {
		return f, frameBadCRC, "CRC mismatch in " + f.typ.String() + " record"
	}
	if !isZero(b[headerSize+n : f.size]) {
		return f, frameBadCRC, "non-zero padding after " + f.typ.String() + " record"
	}
	return f, frameOK, ""
}

// nextHeader returns the first 8-aligned offset at or after from where a
// well-formed header starts, or -1.
func nextHeader(b []byte, from int) int {
	from = (from + recordAlign - 1) &^ (recordAlign - 1)
	for p := from; p+headerSize <= len(b); {
		// No header starts among zeros (its type byte is never zero):
		// preallocated space is skipped a block at a time.
		if end := p + len(zeroBlock); end <= len(b) && bytes.Equal(b[p:end], zeroBlock[:]) {
			p = end
			continue
		}
		// Cheap filters before the checksum.
		if b[p+5]|b[p+6]|b[p+7] == 0 && recordType(b[p+4]).valid() && headerOK(b[p:p+headerSize]) {
			return p
		}
		p += recordAlign
	}
	return -1
}

// zeroBlock is compared with, a block at a time, to find zeros fast.
var zeroBlock [4096]byte

func isZero(b []byte) bool {
	for len(b) >= len(zeroBlock) {
		if !bytes.Equal(b[:len(zeroBlock)], zeroBlock[:]) {
			return false
		}
		b = b[len(zeroBlock):]
	}
	return bytes.Equal(b, zeroBlock[:len(b)])
}

// The data of a crc record: magic, format version, the CRC the chain
// carries over from the previous segment, and four zero bytes.
const (
	segmentMagic   = "BWAL"
	formatVersion  = 1
	crcRecordSize  = 16
	markerDataSize = 16
)

func putCRCRecord(d []byte, carried uint32) {
	copy(d[0:4], segmentMagic)
	binary.LittleEndian.PutUint32(d[4:8], formatVersion)
	binary.LittleEndian.PutUint32(d[8:12], carried)
	binary.LittleEndian.PutUint32(d[12:16], 0)
}

// Marker is a snapshot marker: raft took (or received) a snapshot at
// Index, whose entry has Term.
type Marker struct {
	Index, Term uint64
}

func putMarker(d []byte, m Marker) {
	binary.LittleEndian.PutUint64(d[0:8], m.Index)
	binary.LittleEndian.PutUint64(d[8:16], m.Term)
}
