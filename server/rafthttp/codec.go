package rafthttp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

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

// frameBatch accumulates whole frames for one write to a stream.
type frameBatch struct {
	buf []byte
}

// appendMessage encodes m as one frame and returns the bytes it took.
func (fb *frameBatch) appendMessage(m *raftpb.Message) (int, error) {
	size := m.Size()
	if size == 0 {
		return 0, fmt.Errorf("encode %s to %x: %w", m.Type, m.To, errEmptyMessage)
	}
	if size > maxFrameSize {
		return 0, fmt.Errorf("encode %s to %x: %d bytes: %w", m.Type, m.To, size, errFrameTooLarge)
	}
	start := len(fb.buf)
	total := frameHeaderSize + size
	fb.buf = slices.Grow(fb.buf, total)[:start+total]
	binary.BigEndian.PutUint32(fb.buf[start:], uint32(size))
	if _, err := m.MarshalToSizedBuffer(fb.buf[start+frameHeaderSize:]); err != nil {
		fb.buf = fb.buf[:start]
		return 0, fmt.Errorf("marshal %s to %x: %w", m.Type, m.To, err)
	}
	return total, nil
}

// reset empties the batch, letting go of a buffer grown by a huge frame.
func (fb *frameBatch) reset() {
	if cap(fb.buf) > keepFrameBuffer {
		fb.buf = nil
		return
	}
	fb.buf = fb.buf[:0]
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
	if size > keepFrameBuffer {
		buf, err := readExactly(fr.r, int64(size))
		if err != nil {
			return nil, 0, fmt.Errorf("read frame of %d bytes: %w", size, err)
		}
		return buf, frameHeaderSize + int(size), nil
	}
	if uint32(cap(fr.buf)) < size {
		fr.buf = make([]byte, size)
	}
	buf := fr.buf[:size]
	if _, err := io.ReadFull(fr.r, buf); err != nil {
		return nil, 0, fmt.Errorf("read frame of %d bytes: %w", size, noEOF(err))
	}
	return buf, frameHeaderSize + int(size), nil
}

// readExactly reads n bytes, growing its buffer as they arrive rather than
// trusting a length from the wire with one large allocation.
func readExactly(r io.Reader, n int64) ([]byte, error) {
	buf, err := io.ReadAll(io.LimitReader(r, n))
	if err != nil {
		return nil, err
	}
	if int64(len(buf)) < n {
		return nil, io.ErrUnexpectedEOF
	}
	return buf, nil
}

// noEOF turns an EOF in the middle of a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
