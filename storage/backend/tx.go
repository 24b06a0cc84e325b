package backend

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

type bufOp struct {
	bucket  string
	key     []byte
	val     []byte
	deleted bool
}

// BatchTx writes into the batch. Lock, write with the Unsafe methods,
// Unlock: readers see all of a Lock/Unlock's writes or none of them.
type BatchTx struct {
	b   *Backend
	ops []bufOp
}

// Lock takes the batch.
func (t *BatchTx) Lock() { t.b.mu.Lock() }

// Publish makes the writes so far visible to new read views, at once; the
// batch stays locked. Unlock publishes too: Publish is for callers that
// must make the writes visible together with state of their own, under a
// lock of theirs, without holding that lock through a commit.
func (t *BatchTx) Publish() {
	if len(t.ops) == 0 {
		return
	}
	b := t.b
	b.readMu.Lock()
	for _, op := range t.ops {
		if op.deleted {
			b.buf.delete(op.bucket, op.key)
		} else {
			b.buf.put(op.bucket, op.key, op.val)
		}
	}
	// The readers' view is cloned lazily, by the next reader: a clone
	// makes the next write copy its path through the tree, which writes
	// with no reads in between need not pay.
	b.view = nil
	b.readMu.Unlock()
	b.pending += len(t.ops)
	t.ops = t.ops[:0]
}

// Unlock publishes the writes to readers, commits if the batch is full,
// and releases the batch. It returns the commit's error, if one ran and
// failed.
func (t *BatchTx) Unlock() error {
	b := t.b
	defer b.mu.Unlock()
	t.Publish()
	if b.pending >= b.cfg.BatchLimit && !b.closed.Load() {
		return b.commitLocked()
	}
	return nil
}

// UnsafeCreateBucket creates a bucket if it does not exist.
func (t *BatchTx) UnsafeCreateBucket(name []byte) error {
	if _, err := t.b.tx.CreateBucketIfNotExists(name); err != nil {
		return fmt.Errorf("backend: create bucket %q: %w", name, err)
	}
	t.b.pending++
	return nil
}

func (t *BatchTx) bucket(name []byte) (*bolt.Bucket, error) {
	bkt := t.b.tx.Bucket(name)
	if bkt == nil {
		return nil, fmt.Errorf("backend: bucket %q does not exist", name)
	}
	return bkt, nil
}

// UnsafePut writes key=value into bucket.
func (t *BatchTx) UnsafePut(bucket, key, value []byte) error {
	return t.put(bucket, key, value, false)
}

// UnsafeSeqPut is UnsafePut for keys written in ascending order: pages are
// filled fuller, since nothing will be inserted between them.
func (t *BatchTx) UnsafeSeqPut(bucket, key, value []byte) error {
	return t.put(bucket, key, value, true)
}

func (t *BatchTx) put(bucket, key, value []byte, seq bool) error {
	bkt, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	if seq {
		bkt.FillPercent = 0.9
	}
	if err := bkt.Put(key, value); err != nil {
		return fmt.Errorf("backend: put into bucket %q: %w", bucket, err)
	}
	t.ops = append(t.ops, bufOp{bucket: string(bucket), key: key, val: value})
	return nil
}

// UnsafeDelete deletes key from bucket.
func (t *BatchTx) UnsafeDelete(bucket, key []byte) error {
	bkt, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	if err := bkt.Delete(key); err != nil {
		return fmt.Errorf("backend: delete from bucket %q: %w", bucket, err)
	}
	t.ops = append(t.ops, bufOp{bucket: string(bucket), key: key, deleted: true})
	return nil
}

// UnsafeRange reads within the batch, seeing its own writes; see
// ReadTx.Range for the arguments.
func (t *BatchTx) UnsafeRange(bucket, key, end []byte, limit int64) (keys, vals [][]byte) {
	bkt := t.b.tx.Bucket(bucket)
	if bkt == nil {
		return nil, nil
	}
	return boltRange(bkt, key, end, limit)
}

// UnsafeForEach visits every key of bucket within the batch.
func (t *BatchTx) UnsafeForEach(bucket []byte, f func(k, v []byte) error) error {
	bkt := t.b.tx.Bucket(bucket)
	if bkt == nil {
		return nil
	}
	return bkt.ForEach(f)
}

func boltRange(bkt *bolt.Bucket, key, end []byte, limit int64) (keys, vals [][]byte) {
	if end == nil {
		if v := bkt.Get(key); v != nil {
			return [][]byte{key}, [][]byte{v}
		}
		return nil, nil
	}
	if limit <= 0 {
		limit = -1
	}
	c := bkt.Cursor()
	for k, v := c.Seek(key); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
		keys = append(keys, k)
		vals = append(vals, v)
		if limit > 0 && int64(len(keys)) >= limit {
			break
		}
	}
	return keys, vals
}

// ReadTx is a read view: the last commit merged with the writes published
// since. It does not block writers or commits. Call End when done.
type ReadTx struct {
	tx   *bolt.Tx // nil in a view of a closed backend
	buf  writeBuffer
	done interface{ Done() }
}

// noReaders is the done of a view of a closed backend.
type noReaders struct{}

func (noReaders) Done() {}

// End releases the view.
func (v *ReadTx) End() { v.done.Done() }

func (v *ReadTx) bucket(name []byte) *bolt.Bucket {
	if v.tx == nil {
		return nil
	}
	return v.tx.Bucket(name)
}

// Get returns the value of key in bucket.
func (v *ReadTx) Get(bucket, key []byte) ([]byte, bool) {
	var found *bufItem
	v.buf.ascend(string(bucket), key, nil, func(it bufItem) bool {
		if bytes.Equal(it.key, key) {
			found = &it
		}
		return false
	})
	if found != nil {
		return found.val, !found.deleted
	}
	bkt := v.bucket(bucket)
	if bkt == nil {
		return nil, false
	}
	val := bkt.Get(key)
	return val, val != nil
}

// Range returns the keys and values of bucket in [key, end), in order, at
// most limit of them (limit <= 0: all). A nil end reads key alone.
func (v *ReadTx) Range(bucket, key, end []byte, limit int64) (keys, vals [][]byte) {
	if end == nil {
		if val, ok := v.Get(bucket, key); ok {
			return [][]byte{key}, [][]byte{val}
		}
		return nil, nil
	}
	return v.rangeMerge(bucket, key, end, limit)
}

// rangeMerge reads [key, end) (to the bucket's end if end is nil),
// merging the committed keys with the buffered writes, which win.
func (v *ReadTx) rangeMerge(bucket, key, end []byte, limit int64) (keys, vals [][]byte) {
	inRange := func(k []byte) bool { return end == nil || bytes.Compare(k, end) < 0 }
	var buffered []bufItem
	v.buf.ascend(string(bucket), key, end, func(it bufItem) bool {
		buffered = append(buffered, it)
		return true
	})
	bkt := v.bucket(bucket)
	emit := func(k, val []byte) bool {
		keys = append(keys, k)
		vals = append(vals, val)
		return limit > 0 && int64(len(keys)) >= limit
	}
	i := 0
	if bkt != nil {
		c := bkt.Cursor()
		for k, val := c.Seek(key); k != nil && inRange(k); k, val = c.Next() {
			for ; i < len(buffered) && bytes.Compare(buffered[i].key, k) < 0; i++ {
				if !buffered[i].deleted && emit(buffered[i].key, buffered[i].val) {
					return keys, vals
				}
			}
			if i < len(buffered) && bytes.Equal(buffered[i].key, k) {
				it := buffered[i]
				i++
				if !it.deleted && emit(it.key, it.val) {
					return keys, vals
				}
				continue
			}
			if emit(k, val) {
				return keys, vals
			}
		}
	}
	for ; i < len(buffered); i++ {
		if !buffered[i].deleted && emit(buffered[i].key, buffered[i].val) {
			return keys, vals
		}
	}
	return keys, vals
}

// ForEach visits every key of bucket in order.
func (v *ReadTx) ForEach(bucket []byte, f func(k, v []byte) error) error {
	keys, vals := v.rangeMerge(bucket, []byte{}, nil, 0)
	for i := range keys {
		if err := f(keys[i], vals[i]); err != nil {
			return err
		}
	}
	return nil
}
