package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"

	"github.com/basaltkv/basalt/raft/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
)

// Frame layout, etcd's (see doc.go):
//
//	0:8    length word, little-endian: the low 56 bits are n, the length of
//	       the encoded record; when n is not a multiple of 8 the top byte
//	       is 0x80|pad, pad being the zero bytes after the record
//	8:8+n  a walpb.Record: type (field 1, varint), crc (field 2, varint),
//	       data (field 3, bytes)
//	       then pad zero bytes
const (
	wordSize    = 8
	recordAlign = 8
	// sectorSize is the unit a torn write loses: a record with a whole
	// sector of zeros was interrupted, not damaged (etcd's rule).
	sectorSize = 512
	// maxHeadSize bounds the bytes of a frame before its data: the length
	// word, the type and crc fields (a crc varint takes up to 5 bytes) and
	// the data field's tag and length.
	maxHeadSize = wordSize + 2 + 1 + 5 + 1 + binary.MaxVarintLen64
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// recordType is walpb.Record's type, etcd's numbering.
type recordType int64

const (
	metadataType recordType = 1
	entryType    recordType = 2
	stateType    recordType = 3
	crcType      recordType = 4 // first in every segment: carries the running CRC
	snapshotType recordType = 5
)

func (t recordType) valid() bool { return t >= metadataType && t <= snapshotType }

func (t recordType) String() string {
	switch t {
	case crcType:
		return "crc"
	case metadataType:
		return "metadata"
	case stateType:
		return "hardstate"
	case entryType:
		return "entry"
	case snapshotType:
		return "snapshot"
	}
	return "unknown"
}

// Protobuf tags of walpb.Record's fields (and walpb.Snapshot's, which
// number theirs the same way): field<<3 | wire type.
const (
	tagField1Varint = 1<<3 | 0
	tagField2Varint = 2<<3 | 0
	tagField3Bytes  = 3<<3 | 2
)

// maxFrameSize bounds the bytes a record with n bytes of data takes on
// disk (the exact size depends on its CRC's varint).
func maxFrameSize(n int) int {
	return maxHeadSize + n + recordAlign - 1
}

// frameWord is the length word of a record of n bytes, and its padding.
func frameWord(n int) (word uint64, pad int) {
	word = uint64(n)
	if pad = (recordAlign - n%recordAlign) % recordAlign; pad != 0 {
		word |= uint64(0x80|pad) << 56
	}
	return word, pad
}

// parseWord splits a length word as etcd does: the low 56 bits are the
// record's length; a set top bit says the low 3 bits of the top byte are
// the padding.
func parseWord(word uint64) (n, pad int64) {
	n = int64(word &^ (0xff << 56))
	if int64(word) < 0 {
		pad = int64((word >> 56) & 0x7)
	}
	return n, pad
}

// appendFrame appends a record of type typ with n bytes of data, written
// by fill, to buf, and returns buf and the record's chained CRC:
// crc32c(prevCRC; data).
func appendFrame(buf []byte, typ recordType, prevCRC uint32, n int, fill func(data []byte) error) ([]byte, uint32, error) {
	start := len(buf)
	// The data is written where the longest header would end, then moved
	// down once the CRC, and so the header's length, is known.
	at := start + maxHeadSize
	buf = slices.Grow(buf, maxFrameSize(n))[:at+n]
	data := buf[at:]
	if fill != nil {
		if err := fill(data); err != nil {
			return buf[:start], prevCRC, err
		}
	}
	crc := crc32.Update(prevCRC, crcTable, data)
	var head [maxHeadSize - wordSize]byte
	h := append(head[:0], tagField1Varint, byte(typ), tagField2Varint)
	h = binary.AppendUvarint(h, uint64(crc))
	h = append(h, tagField3Bytes)
	h = binary.AppendUvarint(h, uint64(n))
	body := start + wordSize
	copy(buf[body+len(h):], data)
	copy(buf[body:], h)
	return finishFrame(buf[:body+len(h)+n], start), crc, nil
}

// appendCRCFrame appends the crc record that opens a segment: it carries
// the running CRC (crc32c of the data of every record before it, across
// segments) and has no data.
func appendCRCFrame(buf []byte, carried uint32) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, wordSize)...)
	buf = append(buf, tagField1Varint, byte(crcType), tagField2Varint)
	buf = binary.AppendUvarint(buf, uint64(carried))
	return finishFrame(buf, start)
}

// finishFrame pads the record that starts with a length word at start
// and runs to the end of buf, and fills in the word.
func finishFrame(buf []byte, start int) []byte {
	word, pad := frameWord(len(buf) - start - wordSize)
	binary.LittleEndian.PutUint64(buf[start:], word)
	return append(buf, make([]byte, pad)...)
}

func appendBytesFrame(buf []byte, typ recordType, prevCRC uint32, data []byte) ([]byte, uint32) {
	buf, crc, _ := appendFrame(buf, typ, prevCRC, len(data), func(d []byte) error {
		copy(d, data)
		return nil
	})
	return buf, crc
}

// record is a decoded walpb.Record.
type record struct {
	typ  recordType
	crc  uint32
	data []byte // aliases the bytes decoded
}

var errBadRecord = errors.New("undecodable record")

// parseRecord decodes a walpb.Record as protobuf would: fields in any
// order, the last of a repeated field winning, unknown fields skipped.
// A missing type reads as 0.
func parseRecord(b []byte) (record, error) {
	var r record
	err := protoFields(b, func(field int, varint bool, v uint64, bs []byte) {
		switch {
		case field == 1 && varint:
			r.typ = recordType(int64(v))
		case field == 2 && varint:
			r.crc = uint32(v)
		case field == 3 && !varint:
			r.data = bs
		}
	})
	return r, err
}

// protoFields walks the fields of a protobuf message, calling f with each
// varint's value or each length-delimited field's bytes (a field of the
// wrong wire type is unknown to protobuf, and so to the caller). Other
// fields are skipped.
func protoFields(b []byte, f func(field int, varint bool, v uint64, bs []byte)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errBadRecord
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			var v uint64
			if v, n = protowire.ConsumeVarint(b); n >= 0 {
				f(int(num), true, v, nil)
			}
		case protowire.BytesType:
			var v []byte
			if v, n = protowire.ConsumeBytes(b); n >= 0 {
				f(int(num), false, 0, v)
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errBadRecord
		}
		b = b[n:]
	}
	return nil
}

// tornRecord reports whether the frame bytes b (after the length word),
// starting at offset off in the file, hold a sector-aligned stretch of
// zeros: a write interrupted by a crash, which loses whole sectors, rather
// than damage (etcd's rule).
func tornRecord(b []byte, off int64) bool {
	for len(b) > 0 {
		n := min(int(sectorSize-off%sectorSize), len(b))
		if isZero(b[:n]) {
			return true
		}
		b, off = b[n:], off+int64(n)
	}
	return false
}

// plausibleFrame reports whether a well-formed frame starts at b[0]: a
// length word in the form the encoder writes, a record that fits in b and
// decodes with a known type and a CRC, and zero padding. It tells records
// after a damaged one from the zeros and torn bytes a crash leaves.
func plausibleFrame(b []byte) bool {
	if len(b) < wordSize {
		return false
	}
	word := binary.LittleEndian.Uint64(b)
	n, pad := parseWord(word)
	if w, _ := frameWord(int(n)); w != word || n < 4 || n > int64(len(b)-wordSize)-pad {
		return false
	}
	rec, err := parseRecord(b[wordSize : wordSize+n])
	return err == nil && rec.typ.valid() && b[wordSize+1] == byte(rec.typ) && b[wordSize+2] == tagField2Varint &&
		isZero(b[wordSize+n:wordSize+n+pad])
}

// nextFrame returns the first 8-aligned offset at or after from where a
// plausible frame starts, or -1.
func nextFrame(b []byte, from int) int {
	from = (from + recordAlign - 1) &^ (recordAlign - 1)
	for p := from; p+wordSize <= len(b); {
		// No frame starts among zeros (its length is never zero):
		// preallocated space is skipped a block at a time.
		if end := p + len(zeroBlock); end <= len(b) && bytes.Equal(b[p:end], zeroBlock[:]) {
			p = end
			continue
		}
		// A cheap filter before decoding: the record's first field is its type.
		if b[p] != 0 && p+wordSize+2 <= len(b) && b[p+wordSize] == tagField1Varint && plausibleFrame(b[p:]) {
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

// Marker is a snapshot marker: raft took (or received) a snapshot at
// Index, whose entry has Term.
type Marker struct {
	Index, Term uint64
}

// appendSnapshotRecord appends a walpb.Snapshot: index, term and, unless
// nil, the configuration (etcd 3.5 and later write it for every snapshot
// but the zero one that opens a WAL).
func appendSnapshotRecord(b []byte, m Marker, cs *raftpb.ConfState) ([]byte, error) {
	b = append(b, tagField1Varint)
	b = binary.AppendUvarint(b, m.Index)
	b = append(b, tagField2Varint)
	b = binary.AppendUvarint(b, m.Term)
	if cs != nil {
		d, err := cs.Marshal()
		if err != nil {
			return nil, err
		}
		b = append(b, tagField3Bytes)
		b = binary.AppendUvarint(b, uint64(len(d)))
		b = append(b, d...)
	}
	return b, nil
}

// parseSnapshotRecord decodes a walpb.Snapshot's index and term, checking
// that its configuration, if any, decodes.
func parseSnapshotRecord(b []byte) (Marker, error) {
	var m Marker
	var cs []byte
	err := protoFields(b, func(field int, varint bool, v uint64, bs []byte) {
		switch {
		case field == 1 && varint:
			m.Index = v
		case field == 2 && varint:
			m.Term = v
		case field == 3 && !varint:
			cs = bs
		}
	})
	if err == nil && cs != nil {
		var c raftpb.ConfState
		err = c.Unmarshal(cs)
	}
	return m, err
}
