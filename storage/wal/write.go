package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/basaltkv/basalt/raft/raftpb"
)

// mustSync is raft's rule: new entries, or a new term or vote, must be on
// disk before raft acts on them; a commit index alone can be recovered.
func mustSync(st, prev raftpb.HardState, entries int) bool {
	return entries > 0 || st.Term != prev.Term || st.Vote != prev.Vote
}

func isEmptyHardState(st raftpb.HardState) bool { return st == raftpb.HardState{} }

// Save appends ents and then st (unless empty), and returns once they are
// durable if raft requires it (entries, or a term or vote change);
// otherwise they are written but not yet synced.
//
// Saves share fsyncs: concurrent callers append one after another and one
// fsync serves every save appended before it started, so N goroutines
// saving together cost far fewer than N fsyncs. A single caller can batch
// explicitly with SaveNoSync followed by Sync.
//
// After a failed write or fsync the WAL refuses every later append with
// the same error: what reached the disk is unknown, so the caller must
// stop and reopen (which repairs the tail).
func (w *WAL) Save(st raftpb.HardState, ents []raftpb.Entry) error {
	w.mu.Lock()
	need := mustSync(st, w.mu.state, len(ents))
	err := w.appendLocked(st, ents)
	pos := w.mu.written
	w.mu.Unlock()
	if err != nil || !need {
		return err
	}
	return w.syncTo(pos)
}

// SaveNoSync appends st (unless empty) and ents without syncing. They are
// durable only after a later Sync (or syncing Save) returns.
func (w *WAL) SaveNoSync(st raftpb.HardState, ents []raftpb.Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.appendLocked(st, ents)
}

// SaveSnapshot records that raft has a snapshot described by md (index,
// term and configuration, as etcd's walpb.Snapshot holds them), and
// syncs. Write the snapshot itself (snap.Snapshotter.SaveSnap) first:
// Open may be given its marker only once the snapshot file exists.
func (w *WAL) SaveSnapshot(md raftpb.SnapshotMetadata) error {
	m := Marker{Index: md.Index, Term: md.Term}
	data, err := appendSnapshotRecord(nil, m, &md.ConfState)
	if err != nil {
		return fmt.Errorf("encode snapshot record: %w", err)
	}
	w.mu.Lock()
	err = w.checkLocked()
	if err == nil {
		var buf []byte
		buf, w.mu.crc = appendBytesFrame(w.mu.buf[:0], snapshotType, w.mu.crc, data)
		w.mu.lastIndex = max(w.mu.lastIndex, m.Index)
		err = w.writeLocked(buf)
		w.mu.buf = buf[:0]
	}
	pos := w.mu.written
	w.mu.Unlock()
	if err != nil {
		return err
	}
	return w.syncTo(pos)
}

// Sync makes everything appended so far durable. It does nothing if that
// is already so.
func (w *WAL) Sync() error {
	w.mu.Lock()
	err := w.checkLocked()
	pos := w.mu.written
	w.mu.Unlock()
	if err != nil {
		return err
	}
	return w.syncTo(pos)
}

func (w *WAL) checkLocked() error {
	switch {
	case w.mu.closed:
		return ErrClosed
	case w.readOnly:
		return ErrReadOnly
	case !w.mu.ready:
		return ErrNotReady
	}
	return w.mu.err
}

// syncTo returns once the first pos bytes appended are durable. One
// caller at a time fsyncs, outside mu so that others keep appending;
// callers queued behind it usually find their bytes already covered.
func (w *WAL) syncTo(pos uint64) error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	if w.mu.synced >= pos || w.mu.err != nil {
		err := w.mu.err
		w.mu.Unlock()
		return err
	}
	if w.mu.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	f, target := w.mu.tail, w.mu.written
	w.mu.syncing = true
	w.mu.Unlock()

	err := w.fsync(f)

	w.mu.Lock()
	defer w.mu.Unlock()
	w.mu.syncing = false
	for _, old := range w.mu.retired {
		old.Close()
	}
	w.mu.retired = nil
	if err != nil {
		w.mu.err = fmt.Errorf("sync wal segment %s: %w", w.tailPathLocked(), cause(err))
		return w.mu.err
	}
	w.mu.synced = max(w.mu.synced, target)
	return nil
}

// appendLocked encodes st and ents and writes them to the tail, cutting a
// new segment whenever the next record would not fit.
func (w *WAL) appendLocked(st raftpb.HardState, ents []raftpb.Entry) error {
	if err := w.checkLocked(); err != nil {
		return err
	}
	if isEmptyHardState(st) && len(ents) == 0 {
		return nil
	}
	buf := w.mu.buf[:0]
	defer func() { w.mu.buf = buf[:0] }()
	var err error
	// fits makes room for a record of n bytes: it flushes buf and cuts a
	// new segment if the record would overflow this one and is not the
	// first after its header records.
	fits := func(n int) error {
		size := int64(len(buf) + maxFrameSize(n))
		if w.mu.tailOff+size <= w.opts.segmentSize || w.mu.tailOff+int64(len(buf)) == w.mu.tailBase {
			return nil
		}
		if err := w.writeLocked(buf); err != nil {
			return err
		}
		buf = buf[:0]
		return w.cutLocked()
	}
	// Entries go first: a torn save then leaves entries without the hard
	// state that might commit them, never a commit index past the log.
	for i := range ents {
		e := &ents[i]
		if err := fits(e.Size()); err != nil {
			return err
		}
		if buf, w.mu.crc, err = appendFrame(buf, entryType, w.mu.crc, e.Size(), marshalTo(e)); err != nil {
			return fmt.Errorf("encode entry %d: %w", e.Index, err)
		}
		w.mu.lastIndex = e.Index
	}
	if !isEmptyHardState(st) {
		if err := fits(st.Size()); err != nil {
			return err
		}
		if buf, w.mu.crc, err = appendFrame(buf, stateType, w.mu.crc, st.Size(), marshalTo(&st)); err != nil {
			return fmt.Errorf("encode hard state: %w", err)
		}
		w.mu.state = st
	}
	return w.writeLocked(buf)
}

type sizedMarshaler interface {
	MarshalToSizedBuffer([]byte) (int, error)
}

func marshalTo(m sizedMarshaler) func([]byte) error {
	return func(d []byte) error {
		n, err := m.MarshalToSizedBuffer(d)
		if err == nil && n != len(d) {
			err = fmt.Errorf("marshalled %d bytes, sized %d", n, len(d))
		}
		return err
	}
}

// writeLocked writes encoded records at the tail. A failure is sticky.
func (w *WAL) writeLocked(buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	if checkInvariants {
		w.checkFramesLocked(buf)
	}
	if err := writeAt(w.mu.tail, buf, w.mu.tailOff); err != nil {
		w.mu.err = fmt.Errorf("write wal segment %s at offset %d: %w", w.tailPathLocked(), w.mu.tailOff, cause(err))
		return w.mu.err
	}
	w.mu.tailOff += int64(len(buf))
	w.mu.written += uint64(len(buf))
	w.mu.writtenCRC = w.mu.crc
	return nil
}

func (w *WAL) tailPathLocked() string {
	return w.mu.segments[len(w.mu.segments)-1].path(w.dir)
}

// cutLocked finishes the tail (trims its unused preallocation, syncs it)
// and starts the next segment, named for the next entry index.
func (w *WAL) cutLocked() error {
	old, path := w.mu.tail, w.tailPathLocked()
	fail := func(what string, err error) error {
		w.mu.err = fmt.Errorf("cut wal segment %s: %s: %w", path, what, cause(err))
		return w.mu.err
	}
	fpBeforeCut.Hit()
	if err := old.Truncate(w.mu.tailOff); err != nil {
		return fail("truncate", err)
	}
	if err := w.fsync(old); err != nil {
		return fail("sync", err)
	}
	fpAfterCutTailSynced.Hit()
	w.mu.synced = w.mu.written
	if w.mu.syncing {
		w.mu.retired = append(w.mu.retired, old)
	} else if err := old.Close(); err != nil {
		return fail("close", err)
	}
	w.mu.tail = nil
	last := w.mu.segments[len(w.mu.segments)-1]
	if err := w.newSegmentLocked(segmentName{seq: last.seq + 1, index: w.mu.lastIndex + 1}); err != nil {
		return fail("start next segment", err)
	}
	return nil
}

// newSegmentLocked creates segment name holding the records that open a
// segment, as etcd writes them: the crc record carrying the running CRC,
// the metadata, and then in the first segment the zero snapshot record
// (etcd opens a new WAL at it), in later ones the last hard state unless
// empty. The segment is preallocated, synced and renamed into place, and
// becomes the tail.
func (w *WAL) newSegmentLocked(name segmentName) error {
	path := name.path(w.dir)
	tmp := path + tmpExt
	f, err := w.fs.Create(tmp)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		f.Close()
		w.fs.Remove(tmp)
		return err
	}
	if err := f.Preallocate(w.opts.segmentSize); err != nil {
		return fail(fmt.Errorf("preallocate %s: %w", tmp, err))
	}
	buf := appendCRCFrame(w.mu.buf[:0], w.mu.crc)
	buf, crc := appendBytesFrame(buf, metadataType, w.mu.crc, w.mu.metadata)
	if name == (segmentName{}) {
		zero, _ := appendSnapshotRecord(nil, Marker{}, nil)
		buf, crc = appendBytesFrame(buf, snapshotType, crc, zero)
	} else if st := w.mu.state; !isEmptyHardState(st) {
		buf, crc, err = appendFrame(buf, stateType, crc, st.Size(), marshalTo(&st))
		if err != nil {
			return fail(fmt.Errorf("encode hard state: %w", err))
		}
	}
	w.mu.buf = buf[:0]
	if err := writeAt(f, buf, 0); err != nil {
		return fail(fmt.Errorf("write %s: %w", tmp, err))
	}
	if err := w.fsync(f); err != nil {
		return fail(fmt.Errorf("sync %s: %w", tmp, err))
	}
	fpBeforeCutRename.Hit()
	if err := w.fs.Rename(tmp, path); err != nil {
		return fail(fmt.Errorf("rename %s: %w", filepath.Base(tmp), err))
	}
	fpAfterCutRename.Hit()
	if err := w.fs.SyncDir(w.dir); err != nil {
		f.Close()
		return fmt.Errorf("sync wal directory %s: %w", w.dir, err)
	}
	w.mu.segments = append(w.mu.segments, name)
	w.mu.tail, w.mu.tailOff, w.mu.tailBase = f, int64(len(buf)), int64(len(buf))
	w.mu.crc, w.mu.writtenCRC = crc, crc
	w.mu.written += uint64(len(buf))
	w.mu.synced = w.mu.written
	return nil
}

// cause strips the path from a file error: a segment's File may carry the
// temporary name it was created under, and callers name the segment.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
