package lease

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/storage/backend"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeTx records what the lessor does in a transaction, and serves the
// lease records back as a ReadTx.
type fakeTx struct {
	mu      sync.Mutex
	ops     []string          // in order: "deleterange k", "put <id>", "delete <id>"
	records map[string][]byte // the lease bucket
	failPut error
	// onDelete, if set, runs inside DeleteRange, as mvcc's Detach would.
	onDelete func(key []byte)
}

func newFakeTx() *fakeTx { return &fakeTx{records: make(map[string][]byte)} }

func (tx *fakeTx) DeleteRange(key, end []byte) (int64, int64) {
	if end != nil {
		panic("lessor deleted a range, not one key")
	}
	if tx.onDelete != nil {
		tx.onDelete(key)
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.ops = append(tx.ops, "deleterange "+string(key))
	return 1, 0
}

func (tx *fakeTx) UnsafePut(b, key, value []byte) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if string(b) != BucketName {
		return fmt.Errorf("put into bucket %q", b)
	}
	if tx.failPut != nil {
		return tx.failPut
	}
	id, _ := idFromKey(key)
	tx.ops = append(tx.ops, fmt.Sprintf("put %d", int64(id)))
	tx.records[string(key)] = slices.Clone(value)
	return nil
}

func (tx *fakeTx) UnsafeDelete(b, key []byte) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if string(b) != BucketName {
		return fmt.Errorf("delete from bucket %q", b)
	}
	id, _ := idFromKey(key)
	tx.ops = append(tx.ops, fmt.Sprintf("delete %d", int64(id)))
	delete(tx.records, string(key))
	return nil
}

func (tx *fakeTx) ForEach(b []byte, f func(k, v []byte) error) error {
	tx.mu.Lock()
	keys := make([]string, 0, len(tx.records))
	for k := range tx.records {
		keys = append(keys, k)
	}
	recs := tx.records
	tx.mu.Unlock()
	slices.Sort(keys)
	for _, k := range keys {
		if err := f([]byte(k), recs[k]); err != nil {
			return err
		}
	}
	return nil
}

func (tx *fakeTx) takeOps() []string {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	ops := tx.ops
	tx.ops = nil
	return ops
}

// record returns the decoded record of lease id, and whether there is
// one.
func (tx *fakeTx) record(t *testing.T, id ID) (record, bool) {
	t.Helper()
	tx.mu.Lock()
	v, ok := tx.records[string(leaseKey(id))]
	tx.mu.Unlock()
	if !ok {
		return record{}, false
	}
	r, err := decodeRecord(leaseKey(id), v)
	if err != nil {
		t.Fatal(err)
	}
	return r, true
}

// backendTx is a Tx over a real backend's batch; it records deleted keys.
type backendTx struct {
	*backend.BatchTx
	deleted []string
}

func (tx *backendTx) DeleteRange(key, end []byte) (int64, int64) {
	tx.deleted = append(tx.deleted, string(key))
	return 1, 0
}

func openBackend(t *testing.T, path string) *backend.Backend {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "db")
	}
	be, err := backend.Open(backend.Config{Path: path, MmapSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	inBatch(t, be, func(tx *backendTx) {
		if err := CreateBucket(tx); err != nil {
			t.Fatal(err)
		}
	})
	return be
}

// inBatch runs f with the backend's batch locked, as the applier does.
func inBatch(t *testing.T, be *backend.Backend, f func(tx *backendTx)) {
	t.Helper()
	bt := be.BatchTx()
	bt.Lock()
	f(&backendTx{BatchTx: bt})
	if err := bt.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// newTestLessor returns a lessor on a fake clock whose loop never ticks:
// the test calls RunOnce.
func newTestLessor(t testing.TB, cfg Config) (*Lessor, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	if cfg.Clock == nil {
		cfg.Clock = clk
	}
	if cfg.Ticks == nil {
		cfg.Ticks = make(chan time.Time)
	}
	le := New(cfg)
	t.Cleanup(le.Stop)
	return le, clk
}

func mustGrant(t testing.TB, le *Lessor, tx Tx, id ID, ttl int64) *Lease {
	t.Helper()
	l, err := le.Grant(tx, id, ttl)
	if err != nil {
		t.Fatalf("grant %v ttl %d: %v", id, ttl, err)
	}
	return l
}

// expired runs one tick and returns the IDs handed out, in order.
func expired(le *Lessor) []ID {
	le.RunOnce()
	var ids []ID
	for {
		select {
		case ls := <-le.ExpiredLeasesC():
			for _, l := range ls {
				ids = append(ids, l.ID)
			}
		default:
			return ids
		}
	}
}

func ids(ls []*Lease) []ID {
	out := make([]ID, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	return out
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if want == nil && got != nil || want != nil && !errors.Is(got, want) {
		t.Fatalf("%s: error %v, want %v", what, got, want)
	}
}
