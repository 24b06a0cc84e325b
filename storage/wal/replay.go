package wal

import (
	"bytes"
	"encoding/binary"

	"github.com/basaltkv/basalt/raft/raftpb"
)

// replay folds the records of consecutive segments into what ReadAll
// returns. It does no IO, so the fuzzer can drive it with any bytes.
type replay struct {
	start       Marker // entries at or below start.Index are not returned
	skipEntries bool   // track only lastIndex, markers and hard state

	metadata     []byte
	haveMetadata bool
	state        raftpb.HardState
	ents         []raftpb.Entry
	found        bool     // a snapshot record equal to start was seen
	markers      []Marker // every snapshot record, in order
	lastIndex    uint64   // index of the last entry record, raised by later markers

	crc     uint32 // running CRC after the last record
	haveCRC bool   // crc is known (a segment was read before)

	// Where the log ends in the last segment scanned, and whether the
	// bytes from there to the end of the file are something other than
	// zeros (a torn record, or garbage), so appending there must first
	// truncate and re-zero.
	end   int
	dirty bool
}

// segment decodes one segment, path being its name for errors. last says
// whether it is the newest segment, the only one a crash can tear.
func (r *replay) segment(path string, buf []byte, last bool) error {
	off, err := r.segmentStart(path, buf)
	if err != nil {
		return err
	}
	for off < len(buf) {
		f, status, reason := decodeFrame(buf[off:], r.crc)
		switch status {
		case frameOK:
			if err := r.record(path, off, f); err != nil {
				return err
			}
			r.crc = f.crc
			off += f.size
			continue
		case frameZero:
			// Preallocated space, or the tail of a segment that was
			// never truncated. Valid records after it would mean zeros
			// overwrote acknowledged data.
			if p := nextHeader(buf, off+recordAlign); p >= 0 {
				return corruptf(path, off, "zeroed record followed by a valid record header at offset %d", p)
			}
			r.end, r.dirty = off, !isZero(buf[off:])
			return nil
		}
		// An invalid record. At the end of the newest segment, with no
		// valid record after it, it is the torn tail of an interrupted
		// write; anywhere else it is corruption.
		if !last {
			return corruptf(path, off, "%s", reason)
		}
		from := off + recordAlign
		if f.size > 0 {
			from = off + f.size // skip the torn record's own payload
		}
		if p := nextHeader(buf, from); p >= 0 {
			return corruptf(path, off, "%s, followed by a valid record header at offset %d", reason, p)
		}
		r.end, r.dirty = off, true
		return nil
	}
	r.end, r.dirty = off, false
	return nil
}

// segmentStart checks the crc record that opens every segment and chains
// the running CRC through it.
func (r *replay) segmentStart(path string, buf []byte) (int, error) {
	if len(buf) < headerSize || !headerOK(buf[:headerSize]) {
		return 0, corruptf(path, 0, "segment does not begin with a valid record header")
	}
	n := int(binary.LittleEndian.Uint32(buf[0:4]))
	if recordType(buf[4]) != crcType || n != crcRecordSize || frameSize(n) > len(buf) {
		return 0, corruptf(path, 0, "segment does not begin with a crc record")
	}
	d := buf[headerSize : headerSize+n]
	if string(d[0:4]) != segmentMagic {
		return 0, corruptf(path, 0, "bad segment magic %q", d[0:4])
	}
	if v := binary.LittleEndian.Uint32(d[4:8]); v != formatVersion {
		return 0, corruptf(path, 0, "unsupported WAL format version %d", v)
	}
	carried := binary.LittleEndian.Uint32(d[8:12])
	f, status, reason := decodeFrame(buf, carried)
	if status != frameOK {
		return 0, corruptf(path, 0, "%s", reason)
	}
	if r.haveCRC && carried != r.crc {
		return 0, corruptf(path, 0, "CRC chain broken: segment carries %08x, previous segment ended with %08x", carried, r.crc)
	}
	r.crc, r.haveCRC = f.crc, true
	return f.size, nil
}

// record applies one valid record.
func (r *replay) record(path string, off int, f frame) error {
	switch f.typ {
	case metadataType:
		if r.haveMetadata && !bytes.Equal(r.metadata, f.data) {
			return corruptf(path, off, "metadata differs from earlier segments")
		}
		if !r.haveMetadata {
			r.metadata = bytes.Clone(f.data)
			if r.metadata == nil {
				r.metadata = []byte{}
			}
			r.haveMetadata = true
		}
	case hardStateType:
		var st raftpb.HardState
		if err := st.Unmarshal(f.data); err != nil {
			return corruptf(path, off, "undecodable hard state: %v", err)
		}
		r.state = st
	case entryType:
		var e raftpb.Entry
		if err := e.Unmarshal(f.data); err != nil {
			return corruptf(path, off, "undecodable entry: %v", err)
		}
		return r.entry(path, off, e)
	case snapshotType:
		if len(f.data) != markerDataSize {
			return corruptf(path, off, "snapshot record of %d bytes, want %d", len(f.data), markerDataSize)
		}
		m := Marker{Index: binary.LittleEndian.Uint64(f.data[0:8]), Term: binary.LittleEndian.Uint64(f.data[8:16])}
		r.markers = append(r.markers, m)
		if m == r.start {
			r.found = true
		}
		r.lastIndex = max(r.lastIndex, m.Index)
	case crcType:
		return corruptf(path, off, "crc record in the middle of a segment")
	default:
		return corruptf(path, off, "unknown record type %d", f.typ)
	}
	return nil
}

// entry appends e the way raft appended it: an entry at index i replaces
// the entry at i and everything after it.
func (r *replay) entry(path string, off int, e raftpb.Entry) error {
	r.lastIndex = e.Index
	if r.skipEntries {
		return nil
	}
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
