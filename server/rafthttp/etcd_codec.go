package rafthttp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/basaltkv/basalt/raft/raftpb"
)

// etcd's stream encodings (see doc.go, "etcd's protocol"). Both are
// written into a batch buffer and flushed as one write.

// etcdLengthSize is the big-endian length that precedes a message in
// etcd's message encoding, its msgappv2 records and its snapshots.
const etcdLengthSize = 8

// isLinkHeartbeat reports whether m is etcd's link heartbeat: a
// MsgHeartbeat from and to nobody, written to keep an idle stream alive
// and skipped by the reader.
func isLinkHeartbeat(m *raftpb.Message) bool {
	return m.Type == raftpb.MsgHeartbeat && m.From == 0 && m.To == 0
}

var linkHeartbeat = raftpb.Message{Type: raftpb.MsgHeartbeat}

// appendSized appends an 8-byte big-endian length and the marshalled m.
func appendSized(buf []byte, m interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
}) ([]byte, error) {
	size := m.Size()
	if size > maxFrameSize {
		return buf, fmt.Errorf("%d bytes: %w", size, errFrameTooLarge)
	}
	start := len(buf)
	buf = slices.Grow(buf, etcdLengthSize+size)[:start+etcdLengthSize+size]
	binary.BigEndian.PutUint64(buf[start:], uint64(size))
	if _, err := m.MarshalToSizedBuffer(buf[start+etcdLengthSize:]); err != nil {
		return buf[:start], err
	}
	return buf, nil
}

// etcdEncoder appends messages to a batch in one of etcd's encodings.
type etcdEncoder interface {
	appendMessage(buf []byte, m *raftpb.Message) ([]byte, error)
}

// messageEncoding is etcd's "message" stream: every message as an 8-byte
// length and the marshalled raftpb.Message.
type messageEncoding struct{}

func (messageEncoding) appendMessage(buf []byte, m *raftpb.Message) ([]byte, error) {
	return appendSized(buf, m)
}

// msgAppV2 record types.
const (
	msgAppV2LinkHeartbeat byte = 0
	msgAppV2AppEntries    byte = 1
	msgAppV2App           byte = 2
)

// msgAppV2Encoding is etcd's "msgappv2" stream, which carries only a
// leader's MsgApps: a MsgApp that continues the last one (same term, its
// log term, starting where the last one's entries ended) is sent as its
// entries and commit index alone; any other as a whole message, which
// sets the term and index the next one continues from.
type msgAppV2Encoding struct {
	term, index uint64
}

func (e *msgAppV2Encoding) appendMessage(buf []byte, m *raftpb.Message) ([]byte, error) {
	start := len(buf)
	switch {
	case isLinkHeartbeat(m):
		return append(buf, msgAppV2LinkHeartbeat), nil
	case e.index == m.Index && e.term == m.LogTerm && m.LogTerm == m.Term:
		buf = append(buf, msgAppV2AppEntries)
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(m.Entries)))
		for i := range m.Entries {
			var err error
			if buf, err = appendSized(buf, &m.Entries[i]); err != nil {
				return buf[:start], err
			}
		}
		buf = binary.BigEndian.AppendUint64(buf, m.Commit)
		e.index += uint64(len(m.Entries))
	default:
		buf = append(buf, msgAppV2App)
		var err error
		if buf, err = appendSized(buf, m); err != nil {
			return buf[:start], err
		}
		e.term, e.index = m.Term, m.Index
		if n := len(m.Entries); n > 0 {
			e.index = m.Entries[n-1].Index
		}
	}
	return buf, nil
}

// etcdDecoder reads messages of one of etcd's encodings.
type etcdDecoder interface {
	// next returns the next message and the bytes it took.
	next() (raftpb.Message, int, error)
}

// sizedReader reads etcd's 8-byte-length records.
type sizedReader struct {
	r   *bufio.Reader
	buf []byte
}

// read returns the next record's bytes, valid until the next call, and
// the bytes it took with its length.
func (s *sizedReader) read(limit uint64) ([]byte, int, error) {
	var l [etcdLengthSize]byte
	if _, err := io.ReadFull(s.r, l[:]); err != nil {
		return nil, 0, err
	}
	n := binary.BigEndian.Uint64(l[:])
	if n > limit {
		return nil, 0, fmt.Errorf("record of %d bytes: %w", n, errFrameTooLarge)
	}
	if uint64(cap(s.buf)) < n {
		s.buf = make([]byte, n)
	}
	b := s.buf[:n]
	if _, err := io.ReadFull(s.r, b); err != nil {
		return nil, 0, noEOF(err)
	}
	if cap(s.buf) > keepFrameBuffer {
		s.buf = nil // let a huge buffer go; b stays valid for the caller
	}
	return b, etcdLengthSize + int(n), nil
}

type messageDecoder struct{ sizedReader }

func newMessageDecoder(r io.Reader) *messageDecoder {
	return &messageDecoder{sizedReader{r: bufio.NewReaderSize(r, 64<<10)}}
}

func (d *messageDecoder) next() (raftpb.Message, int, error) {
	var m raftpb.Message
	b, n, err := d.read(maxFrameSize)
	if err != nil {
		return m, 0, err
	}
	if err := m.Unmarshal(b); err != nil {
		return m, n, fmt.Errorf("unmarshal raft message: %w", err)
	}
	return m, n, nil
}

// msgAppV2Decoder decodes a msgappv2 stream from remote to local.
type msgAppV2Decoder struct {
	sizedReader
	local, remote uint64
	term, index   uint64
}

func newMsgAppV2Decoder(r io.Reader, local, remote uint64) *msgAppV2Decoder {
	return &msgAppV2Decoder{sizedReader: sizedReader{r: bufio.NewReaderSize(r, 64<<10)}, local: local, remote: remote}
}

func (d *msgAppV2Decoder) next() (raftpb.Message, int, error) {
	var m raftpb.Message
	typ, err := d.r.ReadByte()
	if err != nil {
		return m, 0, err
	}
	total := 1
	switch typ {
	case msgAppV2LinkHeartbeat:
		return linkHeartbeat, total, nil
	case msgAppV2AppEntries:
		m = raftpb.Message{Type: raftpb.MsgApp, From: d.remote, To: d.local, Term: d.term, LogTerm: d.term, Index: d.index}
		var l [8]byte
		if _, err := io.ReadFull(d.r, l[:]); err != nil {
			return m, total, noEOF(err)
		}
		total += 8
		count := binary.BigEndian.Uint64(l[:])
		if count > maxFrameSize {
			return m, total, fmt.Errorf("%d entries: %w", count, errFrameTooLarge)
		}
		m.Entries = make([]raftpb.Entry, 0, min(count, 1024))
		for range count {
			b, n, err := d.read(maxFrameSize)
			if err != nil {
				return m, total, noEOF(err)
			}
			total += n
			var e raftpb.Entry
			if err := e.Unmarshal(b); err != nil {
				return m, total, fmt.Errorf("unmarshal raft entry: %w", err)
			}
			m.Entries = append(m.Entries, e)
			d.index++
		}
		if _, err := io.ReadFull(d.r, l[:]); err != nil {
			return m, total, noEOF(err)
		}
		total += 8
		m.Commit = binary.BigEndian.Uint64(l[:])
	case msgAppV2App:
		b, n, err := d.read(maxFrameSize)
		if err != nil {
			return m, total, noEOF(err)
		}
		total += n
		if err := m.Unmarshal(b); err != nil {
			return m, total, fmt.Errorf("unmarshal raft message: %w", err)
		}
		d.term, d.index = m.Term, m.Index
		if n := len(m.Entries); n > 0 {
			d.index = m.Entries[n-1].Index
		}
	default:
		return m, total, fmt.Errorf("unknown msgappv2 record type %d", typ)
	}
	return m, total, nil
}
