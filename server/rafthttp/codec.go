package rafthttp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/basaltkv/basalt/raft/raftpb"
)

const (
	// frameHeaderSize is the length prefix of a stream frame.
	frameHeaderSize = 4
	// maxFrameSize bounds one marshalled message on a stream and the
	// message that opens a snapshot, so a corrupt length cannot make the
	// receiver allocate without bound.
	maxFrameSize = 512 << 20
	// keepFrameBuffer is the largest decode buffer a stream keeps between
	// frames; a larger frame gets a buffer of its own.
	keepFrameBuffer = 4 << 20
)

// keepaliveFrame is a frame of length zero.
var keepaliveFrame = [frameHeaderSize]byte{}

// frameWriter writes length-prefixed messages to a buffered writer; the
// caller decides when to flush.
type frameWriter struct {
	w       *bufio.Writer
	scratch []byte
}

func newFrameWriter(w *bufio.Writer) *frameWriter {
	return &frameWriter{w: w, scratch: make([]byte, 0, 4096)}
}

// writeMessage encodes m as one frame and returns the bytes written.
func (fw *frameWriter) writeMessage(m *raftpb.Message) (int, error) {
	size := m.Size()
	if size == 0 {
		return 0, fmt.Errorf("encode %s to %x: %w", m.Type, m.To, errEmptyMessage)
	}
	if size > maxFrameSize {
		return 0, fmt.Errorf("encode %s to %x: %d bytes: %w", m.Type, m.To, size, errFrameTooLarge)
	}
	total := frameHeaderSize + size
	if cap(fw.scratch) < total {
		fw.scratch = make([]byte, total)
	}
	buf := fw.scratch[:total]
	binary.BigEndian.PutUint32(buf, uint32(size))
	if _, err := m.MarshalToSizedBuffer(buf[frameHeaderSize:]); err != nil {
		return 0, fmt.Errorf("marshal %s to %x: %w", m.Type, m.To, err)
	}
	if _, err := fw.w.Write(buf); err != nil {
		return 0, err
	}
	if total > keepFrameBuffer {
		fw.scratch = make([]byte, 0, 4096)
	}
	return total, nil
}

// writeKeepalive writes an empty frame.
func (fw *frameWriter) writeKeepalive() error {
	_, err := fw.w.Write(keepaliveFrame[:])
	return err
}

// frameReader reads the frames a frameWriter wrote.
type frameReader struct {
	r   *bufio.Reader
	hdr [frameHeaderSize]byte
	buf []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the payload of the next frame, valid until the following
// call, and the number of bytes the frame took on the wire. A keepalive
// frame has an empty payload.
func (fr *frameReader) next() ([]byte, int, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return nil, 0, err
	}
	size := binary.BigEndian.Uint32(fr.hdr[:])
	if size == 0 {
		return nil, frameHeaderSize, nil
	}
	if size > maxFrameSize {
		return nil, 0, fmt.Errorf("frame of %d bytes: %w", size, errFrameTooLarge)
	}
	buf := fr.buf
	if uint32(cap(buf)) < size {
		buf = make([]byte, size)
		if size <= keepFrameBuffer {
			fr.buf = buf
		}
	}
	buf = buf[:size]
	if _, err := io.ReadFull(fr.r, buf); err != nil {
		return nil, 0, fmt.Errorf("read frame of %d bytes: %w", size, noEOF(err))
	}
	return buf, frameHeaderSize + int(size), nil
}

// noEOF turns an EOF in the middle of a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
