package backend

import (
	"bytes"

	"github.com/google/btree"
)

// bufItem is one uncommitted write: a value, or a deletion.
type bufItem struct {
	key     []byte
	val     []byte
	deleted bool
}

func lessItem(a, b bufItem) bool { return bytes.Compare(a.key, b.key) < 0 }

// writeBuffer mirrors, per bucket, the writes of the batch not yet
// committed. Clones share structure copy-on-write, so a reader's clone is
// cheap and unaffected by later writes.
type writeBuffer map[string]*btree.BTreeG[bufItem]

func (wb writeBuffer) put(bucket string, key, val []byte) {
	t := wb[bucket]
	if t == nil {
		t = btree.NewG(32, lessItem)
		wb[bucket] = t
	}
	t.ReplaceOrInsert(bufItem{key: key, val: val})
}

func (wb writeBuffer) delete(bucket string, key []byte) {
	t := wb[bucket]
	if t == nil {
		t = btree.NewG(32, lessItem)
		wb[bucket] = t
	}
	t.ReplaceOrInsert(bufItem{key: key, deleted: true})
}

func (wb writeBuffer) clone() writeBuffer {
	c := make(writeBuffer, len(wb))
	for name, t := range wb {
		c[name] = t.Clone()
	}
	return c
}

// ascend visits the buffered items of bucket in [key, end) (all keys from
// key on if end is nil), in order.
func (wb writeBuffer) ascend(bucket string, key, end []byte, f func(bufItem) bool) {
	t := wb[bucket]
	if t == nil {
		return
	}
	pivot := bufItem{key: key}
	if end == nil {
		t.AscendGreaterOrEqual(pivot, f)
		return
	}
	t.AscendRange(pivot, bufItem{key: end}, f)
}
