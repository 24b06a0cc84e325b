package rafthttp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sync"

	"github.com/basaltkv/basalt/raft/raftpb"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errSnapshotBodyClosed is what reading a snapshot body returns once the
// sender has given up on it.
var errSnapshotBodyClosed = errors.New("snapshot body closed")

// snapshotBody is the request body of POST /raft/snapshot: the message,
// the database and its checksum (see doc.go), or in etcd's framing the
// message and the database alone.
type snapshotBody struct {
	etcd      bool
	head      []byte
	db        io.ReadCloser
	remaining int64
	crc       uint32
	trailer   [4]byte
	tail      []byte // what is left of trailer to send
	total     int64

	mu struct {
		sync.Mutex
		reading bool
		closed  bool
		// srcErr is a failure of the database reader.
		srcErr error
	}
}

func newSnapshotBody(m *raftpb.Message, size int64, db io.ReadCloser, etcd bool) (*snapshotBody, error) {
	if size < 0 {
		return nil, fmt.Errorf("database of %d bytes", size)
	}
	msg, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal MsgSnap: %w", err)
	}
	head := make([]byte, 0, 16+len(msg))
	head = binary.BigEndian.AppendUint64(head, uint64(len(msg)))
	head = append(head, msg...)
	b := &snapshotBody{etcd: etcd, db: db, remaining: size}
	if !etcd {
		head = binary.BigEndian.AppendUint64(head, uint64(size))
		b.total = 4
		if size == 0 {
			b.tail = b.trailer[:]
		}
	}
	b.head = head
	b.total += int64(len(head)) + size
	return b, nil
}

// Read is called by one goroutine at a time (the HTTP client's); close may
// be called concurrently and never waits for a Read in progress.
func (b *snapshotBody) Read(p []byte) (int, error) {
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	if b.remaining > 0 {
		return b.readDB(p)
	}
	if len(b.tail) > 0 {
		n := copy(p, b.tail)
		b.tail = b.tail[n:]
		return n, nil
	}
	return 0, io.EOF
}

func (b *snapshotBody) readDB(p []byte) (int, error) {
	b.mu.Lock()
	if b.mu.closed {
		b.mu.Unlock()
		return 0, errSnapshotBodyClosed
	}
	b.mu.reading = true
	b.mu.Unlock()

	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.db.Read(p)
	b.crc = crc32.Update(b.crc, castagnoli, p[:n])
	b.remaining -= int64(n)
	if b.remaining == 0 {
		if !b.etcd {
			binary.BigEndian.PutUint32(b.trailer[:], b.crc)
			b.tail = b.trailer[:]
		}
		err = nil
	} else if err == io.EOF {
		err = fmt.Errorf("database ends %d bytes early: %w", b.remaining, errShortDatabase)
	} else if err != nil {
		err = fmt.Errorf("read database: %w", err)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.reading = false
	if err != nil && b.mu.srcErr == nil {
		b.mu.srcErr = err
	}
	if b.mu.closed {
		_ = b.db.Close()
		return n, errSnapshotBodyClosed
	}
	return n, err
}

// close closes the database reader, now or when the Read in progress
// returns.
func (b *snapshotBody) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.closed {
		return
	}
	b.mu.closed = true
	if !b.mu.reading {
		_ = b.db.Close()
	}
}

// sourceErr is the database reader's failure, if it failed.
func (b *snapshotBody) sourceErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.srcErr
}

// readSnapshotHeader reads the message and the database size that open a
// snapshot body; it returns the bytes read. In etcd's framing (etcd) there
// is no size: it is returned as -1.
func readSnapshotHeader(r io.Reader, etcd bool) (raftpb.Message, int64, int64, error) {
	var m raftpb.Message
	var word [8]byte
	if _, err := io.ReadFull(r, word[:]); err != nil {
		return m, 0, 0, fmt.Errorf("read message length: %w", err)
	}
	msgLen := binary.BigEndian.Uint64(word[:])
	if msgLen == 0 || msgLen > maxFrameSize {
		return m, 8, 0, fmt.Errorf("message of %d bytes: %w", msgLen, errFrameTooLarge)
	}
	buf, err := readExactly(r, int64(msgLen))
	if err != nil {
		return m, 8, 0, fmt.Errorf("read message: %w", err)
	}
	if err := m.Unmarshal(buf); err != nil {
		return m, int64(8 + msgLen), 0, fmt.Errorf("unmarshal message: %w", err)
	}
	if etcd {
		return m, int64(8 + msgLen), -1, nil
	}
	if _, err := io.ReadFull(r, word[:]); err != nil {
		return m, int64(8 + msgLen), 0, fmt.Errorf("read database size: %w", noEOF(err))
	}
	size := binary.BigEndian.Uint64(word[:])
	if size > math.MaxInt64-4 {
		return m, int64(16 + msgLen), 0, fmt.Errorf("database of %d bytes", size)
	}
	return m, int64(16 + msgLen), int64(size), nil
}

// dbReader reads exactly size bytes of database and the checksum after
// them. It withholds the last bytes until the checksum matches, so a
// reader gets an error instead of io.EOF for a short or corrupt database,
// even through io.ReadFull.
type dbReader struct {
	r         io.Reader
	size      int64
	remaining int64
	crc       uint32
	verified  bool
	err       error
}

func newDBReader(r io.Reader, size int64) *dbReader {
	return &dbReader{r: r, size: size, remaining: size}
}

func (d *dbReader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.remaining == 0 {
		if !d.verified {
			if err := d.verify(); err != nil {
				return 0, err
			}
		}
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > d.remaining {
		p = p[:d.remaining]
	}
	n, err := d.r.Read(p)
	d.crc = crc32.Update(d.crc, castagnoli, p[:n])
	d.remaining -= int64(n)
	if d.remaining == 0 {
		if verr := d.verify(); verr != nil {
			return 0, verr
		}
		return n, nil
	}
	switch {
	case err == io.EOF:
		d.err = fmt.Errorf("database ends after %d of %d bytes: %w", d.size-d.remaining, d.size, errShortDatabase)
		return n, d.err
	case err != nil:
		d.err = fmt.Errorf("read database: %w", err)
		return n, d.err
	}
	return n, nil
}

// verify reads the checksum and compares it.
func (d *dbReader) verify() error {
	var trailer [4]byte
	if _, err := io.ReadFull(d.r, trailer[:]); err != nil {
		d.err = fmt.Errorf("read database checksum: %w: %w", noEOF(err), errShortDatabase)
		return d.err
	}
	if want := binary.BigEndian.Uint32(trailer[:]); want != d.crc {
		d.err = fmt.Errorf("database of %d bytes: crc32c %08x, sender's %08x: %w", d.size, d.crc, want, errChecksumMismatch)
		return d.err
	}
	d.verified = true
	return nil
}

// complete reports whether the whole database was read and verified.
func (d *dbReader) complete() bool { return d.verified && d.err == nil }

// etcdDBReader reads the database of a snapshot in etcd's framing: the
// rest of the request body. The body ends in io.EOF only if it arrived
// whole (HTTP's framing says where it ends).
type etcdDBReader struct {
	r    io.Reader
	n    int64
	done bool
}

func (d *etcdDBReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.n += int64(n)
	if err == io.EOF {
		d.done = true
	}
	return n, err
}
