package wal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/basaltkv/basalt/raft/raftpb"
)

// replay folds the records of consecutive segments into what ReadAll
// returns. It reads through io.ReaderAt, so the fuzzer can drive it with
// any bytes.
type replay struct {
	start       Marker // entries at or below start.Index are not returned
	skipEntries bool   // track only markers and hard state

	metadata     []byte
	haveMetadata bool
	state        raftpb.HardState
	ents         []raftpb.Entry
	found        bool     // a snapshot record equal to start was seen
	markers      []Marker // every snapshot record, in order
	lastIndex    uint64   // index of the last entry record, raised by later markers

	crc     uint32 // running CRC after the last record
	haveCRC bool   // crc is known (a segment was read before)

	// Where the log ends in the last segment scanned, and whether it ends
	// in a torn record, which appending must first cut off.
	end   int64
	dirty bool

	scan scanner
}

// segment decodes one segment of size bytes, path being its name for
// errors. last says whether it is the newest segment, the only one a crash
// can tear.
func (r *replay) segment(path string, src io.ReaderAt, size int64, last bool) error {
	s := &r.scan
	s.reset(src, size)
	if err := r.segmentStart(path); err != nil {
		return err
	}
	for {
		off := s.off
		f, status, reason, err := s.next(r.crc)
		if err != nil {
			return fmt.Errorf("read wal segment %s at offset %d: %w", path, off, err)
		}
		switch status {
		case frameOK:
			if err := r.record(path, off, f.record); err != nil {
				return err
			}
			r.crc = f.crc
			continue
		case frameEnd:
			// A zero length word, as in preallocated space, or the end
			// of the file.
			r.end, r.dirty = off, false
			return nil
		}
		// A damaged record. At the end of the newest segment it is the
		// torn tail of an interrupted write if it lost a whole sector to
		// zeros (as a crash does) or nothing that looks like a record
		// follows it; anywhere else it is corruption.
		if !last {
			return corruptf(path, off, "%s", reason)
		}
		if status != frameShort && !tornRecord(s.cur, off+wordSize) {
			p, err := frameAfter(src, size, off+f.size)
			if err != nil {
				return fmt.Errorf("read wal segment %s at offset %d: %w", path, off+f.size, err)
			}
			if p >= 0 {
				return corruptf(path, off, "%s, followed by a valid record at offset %d", reason, p)
			}
		}
		r.end, r.dirty = off, true
		return nil
	}
}

// frameAfter returns the offset of the first plausible frame at or after
// from, or -1. It reads the rest of the segment: only a damaged tail
// needs it.
func frameAfter(src io.ReaderAt, size, from int64) (int64, error) {
	// Frames are 8-aligned in the file (a damaged length word may point
	// anywhere).
	from = (from + recordAlign - 1) &^ (recordAlign - 1)
	if from >= size {
		return -1, nil
	}
	rest := make([]byte, size-from)
	if _, err := src.ReadAt(rest, from); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	if p := nextFrame(rest, 0); p >= 0 {
		return from + int64(p), nil
	}
	return -1, nil
}

// segmentStart checks the crc record that opens every segment and chains
// the running CRC through it.
func (r *replay) segmentStart(path string) error {
	f, status, reason, err := r.scan.next(0)
	if err != nil {
		return fmt.Errorf("read wal segment %s at offset 0: %w", path, err)
	}
	if status != frameOK {
		if status == frameEnd {
			reason = "empty segment"
		}
		return corruptf(path, 0, "segment does not begin with a crc record: %s", reason)
	}
	if f.typ != crcType {
		return corruptf(path, 0, "segment does not begin with a crc record: %s record", f.typ)
	}
	if r.haveCRC && f.crc != r.crc {
		return corruptf(path, 0, "CRC chain broken: segment carries %08x, previous segment ended with %08x", f.crc, r.crc)
	}
	r.crc, r.haveCRC = f.crc, true
	return nil
}

// record applies one valid record.
func (r *replay) record(path string, off int64, rec record) error {
	switch rec.typ {
	case metadataType:
		if r.haveMetadata && !bytes.Equal(r.metadata, rec.data) {
			return corruptf(path, off, "metadata differs from earlier segments")
		}
		if !r.haveMetadata {
			r.metadata = bytes.Clone(rec.data)
			if r.metadata == nil {
				r.metadata = []byte{}
			}
			r.haveMetadata = true
		}
	case stateType:
		var st raftpb.HardState
		if err := st.Unmarshal(rec.data); err != nil {
			return corruptf(path, off, "undecodable hard state: %v", err)
		}
		r.state = st
	case entryType:
		if r.skipEntries {
			return nil
		}
		var e raftpb.Entry
		if err := e.Unmarshal(rec.data); err != nil {
			return corruptf(path, off, "undecodable entry: %v", err)
		}
		return r.entry(path, off, e)
	case snapshotType:
		m, err := parseSnapshotRecord(rec.data)
		if err != nil {
			return corruptf(path, off, "undecodable snapshot record: %v", err)
		}
		if m.Index == r.start.Index && m.Term != r.start.Term {
			return fmt.Errorf("%w: %s at offset %d: snapshot record at index %d has term %d, opened at term %d",
				ErrSnapshotMismatch, path, off, m.Index, m.Term, r.start.Term)
		}
		r.markers = append(r.markers, m)
		if m == r.start {
			r.found = true
		}
		r.lastIndex = max(r.lastIndex, m.Index)
	case crcType:
		return corruptf(path, off, "crc record in the middle of a segment")
	default:
		return corruptf(path, off, "unknown record type %d", rec.typ)
	}
	return nil
}

// entry appends e the way raft appended it: an entry at index i replaces
// the entry at i and everything after it.
func (r *replay) entry(path string, off int64, e raftpb.Entry) error {
	r.lastIndex = e.Index
	if e.Index <= r.start.Index {
		// Rewrites at or below the snapshot cut everything after it.
		r.ents = r.ents[:0]
		return nil
	}
	pos := e.Index - r.start.Index - 1
	if pos > uint64(len(r.ents)) {
		last := r.start.Index + uint64(len(r.ents))
		return corruptf(path, off, "entry %d does not follow entry %d (opened at snapshot %d, before a later snapshot was installed?)",
			e.Index, last, r.start.Index)
	}
	r.ents = append(r.ents[:pos], e)
	return nil
}

type frameStatus uint8

const (
	frameOK     frameStatus = iota
	frameEnd                // a zero length word or the end of the file: no more records
	frameShort              // the frame runs past the end of the file
	frameBad                // the record does not decode
	frameBadCRC             // the record decodes, its chained CRC is wrong
)

type frame struct {
	record
	size int64 // bytes on disk, once the length word is read
}

// scanner reads the frames of one segment in order through a buffer, so
// the preallocated space after the last record is never read.
type scanner struct {
	src  io.ReaderAt
	size int64
	off  int64  // offset of the next frame
	cur  []byte // the bytes after the length word of the frame read last
	br   *bufio.Reader
	buf  []byte
}

const scanBufferSize = 1 << 20

func (s *scanner) reset(src io.ReaderAt, size int64) {
	s.src, s.size, s.off, s.cur = src, size, 0, nil
	sr := io.NewSectionReader(src, 0, size)
	// A buffer no larger than the segment: small segments (tests, the
	// encoder's own checks) do not pay for a large one.
	if want := int(min(size, scanBufferSize)); s.br == nil || s.br.Size() < want {
		s.br = bufio.NewReaderSize(sr, want)
	} else {
		s.br.Reset(sr)
	}
}

// read returns the next n bytes, in a buffer reused by the next call.
func (s *scanner) read(n int64) ([]byte, error) {
	if int64(cap(s.buf)) < n {
		s.buf = make([]byte, n)
	}
	b := s.buf[:n]
	if _, err := io.ReadFull(s.br, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the size was checked: the file shrank
		}
		return nil, err
	}
	return b, nil
}

// next decodes the frame at s.off, whose CRC chains from prevCRC (a crc
// record's is not checked: it carries the chain), and moves past it if it
// is valid. A record's data is valid until the next call.
func (s *scanner) next(prevCRC uint32) (frame, frameStatus, string, error) {
	rest := s.size - s.off
	if rest == 0 {
		return frame{}, frameEnd, "", nil
	}
	if rest < wordSize {
		b, err := s.read(rest)
		if err != nil {
			return frame{}, 0, "", err
		}
		if isZero(b) {
			return frame{}, frameEnd, "", nil
		}
		return frame{}, frameShort, "partial length word at end of file", nil
	}
	w, err := s.read(wordSize)
	if err != nil {
		return frame{}, 0, "", err
	}
	word := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
	if word == 0 {
		return frame{}, frameEnd, "", nil
	}
	n, pad := parseWord(word)
	if n > rest-wordSize-pad {
		return frame{}, frameShort, fmt.Sprintf("record of %d bytes runs past end of file", n), nil
	}
	f := frame{size: wordSize + n + pad}
	b, err := s.read(n + pad)
	if err != nil {
		return frame{}, 0, "", err
	}
	s.cur = b
	rec, err := parseRecord(b[:n])
	if err != nil {
		return f, frameBad, "undecodable record", nil
	}
	f.record = rec
	if rec.typ != crcType {
		if got := crc32.Update(prevCRC, crcTable, rec.data); got != rec.crc {
			return f, frameBadCRC, fmt.Sprintf("CRC mismatch in %s record: stored %08x, computed %08x", rec.typ, rec.crc, got), nil
		}
	}
	s.off += f.size
	return f, frameOK, "", nil
}
