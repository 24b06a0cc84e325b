package backend

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Defaults, as etcd's.
const (
	DefaultBatchInterval = 100 * time.Millisecond
	DefaultBatchLimit    = 10000
	// DefaultMmapSize is the initial memory map: large, so that bbolt
	// rarely remaps (a remap waits for every reader).
	DefaultMmapSize = 10 * 1024 * 1024 * 1024
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("backend: closed")

// Config of a backend.
type Config struct {
	// Path of the bbolt file.
	Path string
	// BatchInterval is the longest an applied write waits to be committed.
	BatchInterval time.Duration
	// BatchLimit is the number of write operations that forces a commit.
	BatchLimit int
	// MmapSize is bbolt's initial memory map size.
	MmapSize int
	// FreelistArray uses bbolt's array freelist instead of its map
	// (--backend-bbolt-freelist-type=array).
	FreelistArray bool
	// Mlock locks the database's mapped pages in memory (etcd's
	// --memory-mlock).
	Mlock bool
	// UnsafeNoFsync commits without fsync (etcd's --unsafe-no-fsync, for
	// tests): a crash may lose or corrupt what was committed.
	UnsafeNoFsync bool
}

// Backend is a bbolt database with batched writes and read views that see
// uncommitted writes; see the package documentation.
type Backend struct {
	cfg Config

	// mu is the batch: held by a writer between BatchTx Lock and Unlock,
	// and by commit, defrag and replace.
	mu      sync.Mutex
	tx      *bolt.Tx
	pending int // write operations since the last commit
	// closed is set, with mu and readMu held, by Close and by a failed
	// commit, defrag or replace (after which bbolt's state is unknown): no
	// view is made of the database after that.
	closed atomic.Bool

	// readMu guards the state read views are made from, and db, which a
	// defragmentation or a replacement swaps (holding mu and readMu).
	readMu sync.RWMutex
	db     *bolt.DB
	// buf holds the batch's writes; view is an immutable clone of it for
	// readers, nil when buf changed since: the next reader clones it.
	buf    writeBuffer
	view   writeBuffer
	readTx *bolt.Tx
	// readers counts the views of readTx still open: readTx may be rolled
	// back only when they end.
	readers *sync.WaitGroup

	batchTx BatchTx

	commits int64
	stopc   chan struct{}
	donec   chan struct{}
}

// Open opens (creating if needed) the backend at cfg.Path and starts its
// commit timer.
func Open(cfg Config) (*Backend, error) {
	if cfg.BatchInterval <= 0 {
		cfg.BatchInterval = DefaultBatchInterval
	}
	if cfg.BatchLimit <= 0 {
		cfg.BatchLimit = DefaultBatchLimit
	}
	if cfg.MmapSize <= 0 {
		cfg.MmapSize = DefaultMmapSize
	}
	b := &Backend{cfg: cfg, stopc: make(chan struct{}), donec: make(chan struct{})}
	b.batchTx.b = b
	if err := b.openDB(); err != nil {
		return nil, err
	}
	go b.run()
	return b, nil
}

func (b *Backend) freelistType() bolt.FreelistType {
	if b.cfg.FreelistArray {
		return bolt.FreelistArrayType
	}
	return bolt.FreelistMapType
}

func (b *Backend) openDB() error {
	db, err := bolt.Open(b.cfg.Path, 0o600, &bolt.Options{
		Timeout:         10 * time.Second, // another process holds the file
		InitialMmapSize: b.cfg.MmapSize,
		FreelistType:    b.freelistType(),
		NoFreelistSync:  true,
		NoSync:          b.cfg.UnsafeNoFsync,
		Mlock:           b.cfg.Mlock,
	})
	if err != nil {
		return fmt.Errorf("open backend %s: %w", b.cfg.Path, err)
	}
	b.db = db
	if err := b.beginLocked(); err != nil {
		db.Close()
		return err
	}
	return nil
}

// beginLocked starts a new batch and read transaction after a commit.
// Callers hold mu (and readMu when the backend is live).
func (b *Backend) beginLocked() error {
	rtx, err := b.db.Begin(false)
	if err != nil {
		return fmt.Errorf("backend %s: begin read tx: %w", b.cfg.Path, err)
	}
	tx, err := b.db.Begin(true)
	if err != nil {
		rtx.Rollback()
		return fmt.Errorf("backend %s: begin batch tx: %w", b.cfg.Path, err)
	}
	b.readTx = rtx
	b.readers = &sync.WaitGroup{}
	b.buf = writeBuffer{}
	b.view = writeBuffer{}
	b.tx = tx
	b.pending = 0
	return nil
}

func (b *Backend) run() {
	defer close(b.donec)
	t := time.NewTicker(b.cfg.BatchInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-b.stopc:
			return
		}
		b.mu.Lock()
		if b.pending > 0 && !b.closed.Load() {
			// A failed commit closes the backend; the member's next write
			// reports it.
			_ = b.commitLocked()
		}
		b.mu.Unlock()
	}
}

// BatchTx returns the batch for writing; see BatchTx.
func (b *Backend) BatchTx() *BatchTx { return &b.batchTx }

// ForceCommit commits the batch now.
func (b *Backend) ForceCommit() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return ErrClosed
	}
	return b.commitLocked()
}

// commitLocked commits the batch and starts the next. mu is held. A
// failure closes the backend.
func (b *Backend) commitLocked() error {
	b.readMu.Lock()
	defer b.readMu.Unlock()
	// The old read transaction ends once its last view does; it must end
	// before bbolt can remap, which the commit may need, so release it
	// before committing rather than after.
	oldTx, oldReaders := b.readTx, b.readers
	go func() {
		oldReaders.Wait()
		oldTx.Rollback()
	}()
	fpBeforeCommit.Hit()
	if err := b.commitTx(); err != nil {
		b.closed.Store(true)
		return fmt.Errorf("backend %s: commit: %w", b.cfg.Path, err)
	}
	fpAfterCommit.Hit()
	b.commits++
	if err := b.beginLocked(); err != nil {
		b.closed.Store(true)
		return err
	}
	return nil
}

// commitTx commits the batch's bbolt transaction and observes how long it
// took, in all and in each of bbolt's phases. mu is held.
func (b *Backend) commitTx() error {
	start := time.Now()
	err := b.tx.Commit()
	st := b.tx.Stats()
	rebalanceSec.Observe(st.GetRebalanceTime().Seconds())
	spillSec.Observe(st.GetSpillTime().Seconds())
	writeSec.Observe(st.GetWriteTime().Seconds())
	commitSec.Observe(time.Since(start).Seconds())
	return err
}

// Commits is the number of batch commits so far.
func (b *Backend) Commits() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.commits
}

// ReadTx returns a read view of everything written so far, committed or
// not. End it when done. A view of a closed backend finds nothing (it
// never touches a closed database).
func (b *Backend) ReadTx() *ReadTx {
	b.readMu.RLock()
	if b.closed.Load() {
		b.readMu.RUnlock()
		return &ReadTx{done: noReaders{}}
	}
	if b.view != nil {
		defer b.readMu.RUnlock()
		b.readers.Add(1)
		return &ReadTx{tx: b.readTx, buf: b.view, done: b.readers}
	}
	b.readMu.RUnlock()
	b.readMu.Lock()
	defer b.readMu.Unlock()
	if b.view == nil {
		b.view = b.buf.clone()
	}
	b.readers.Add(1)
	return &ReadTx{tx: b.readTx, buf: b.view, done: b.readers}
}

// Size is the size of the database file in bytes.
func (b *Backend) Size() int64 {
	// Not through ReadTx: a view would clone the write buffer, which the
	// quota check on every write must not cost.
	b.readMu.RLock()
	defer b.readMu.RUnlock()
	if b.closed.Load() {
		return 0
	}
	return b.readTx.Size()
}

// SizeInUse is the size of the pages holding data: Size less free pages.
func (b *Backend) SizeInUse() int64 {
	b.readMu.RLock()
	defer b.readMu.RUnlock()
	if b.closed.Load() {
		return 0
	}
	st := b.db.Stats()
	free := int64(st.FreePageN+st.PendingPageN) * int64(b.db.Info().PageSize)
	return b.readTx.Size() - free
}

// OpenReadTxN is the number of bbolt read transactions open: the one
// behind the read views (more while the views of an older one finish),
// and those of hashes and snapshots being read.
func (b *Backend) OpenReadTxN() int {
	b.readMu.RLock()
	defer b.readMu.RUnlock()
	if b.closed.Load() {
		return 0
	}
	return b.db.Stats().OpenTxN
}

// beginCommitted starts a bbolt read transaction of the last commit. It
// keeps the database it was begun on open (a defragmentation waits for
// it; a replacement closes the old database once it ends), so the caller
// may read it without holding readMu. Roll it back when done.
func (b *Backend) beginCommitted() (*bolt.Tx, error) {
	b.readMu.RLock()
	defer b.readMu.RUnlock()
	if b.closed.Load() {
		return nil, ErrClosed
	}
	tx, err := b.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("backend %s: begin read tx: %w", b.cfg.Path, err)
	}
	return tx, nil
}

// Hash returns a CRC32-Castagnoli over every bucket's name, keys and
// values, in order, skipping buckets for which ignore returns true.
func (b *Backend) Hash(ignore func(bucket, key []byte) bool) (uint32, error) {
	if err := b.ForceCommit(); err != nil {
		return 0, err
	}
	tx, err := b.beginCommitted()
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	err = tx.ForEach(func(name []byte, bkt *bolt.Bucket) error {
		h.Write(name)
		return bkt.ForEach(func(k, v []byte) error {
			if ignore == nil || !ignore(name, k) {
				h.Write(k)
				h.Write(v)
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("backend %s: hash: %w", b.cfg.Path, err)
	}
	return h.Sum32(), nil
}

// Snapshot is a consistent copy of the database, streamed on demand.
type Snapshot struct {
	tx    *bolt.Tx
	start time.Time
}

// Snapshot commits the batch and returns a consistent snapshot of the
// database. Close it when done: it holds a bbolt read transaction.
func (b *Backend) Snapshot() (*Snapshot, error) {
	if err := b.ForceCommit(); err != nil {
		return nil, err
	}
	tx, err := b.beginCommitted()
	if err != nil {
		return nil, err
	}
	return &Snapshot{tx: tx, start: time.Now()}, nil
}

// Size is the snapshot's size in bytes.
func (s *Snapshot) Size() int64 { return s.tx.Size() }

// WriteTo writes the whole database file to w.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) { return s.tx.WriteTo(w) }

// Close releases the snapshot.
func (s *Snapshot) Close() error {
	err := s.tx.Rollback()
	if err == nil {
		snapshotSec.Observe(time.Since(s.start).Seconds())
	}
	return err
}

// Close commits the batch and closes the database.
func (b *Backend) Close() error {
	b.mu.Lock()
	select {
	case <-b.stopc:
		b.mu.Unlock()
		return nil
	default:
	}
	close(b.stopc)
	b.mu.Unlock()
	<-b.donec
	b.mu.Lock()
	defer b.mu.Unlock()
	b.readMu.Lock()
	defer b.readMu.Unlock()
	var err error
	if !b.closed.Swap(true) {
		err = b.commitTx()
		b.readers.Wait()
		b.readTx.Rollback()
	}
	if cerr := b.db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backend %s: close: %w", b.cfg.Path, err)
	}
	return nil
}

// Path is the database file's path.
func (b *Backend) Path() string { return b.cfg.Path }

// DefragResult reports a defragmentation.
type DefragResult struct {
	SizeBefore, SizeAfter int64
	// WritesBlocked is how long writers waited for the defragmentation.
	WritesBlocked time.Duration
}

// Defrag rewrites the database compactly into a new file and swaps it in.
// Writes and new read views wait while it runs.
func (b *Backend) Defrag() (DefragResult, error) {
	start := time.Now()
	defragInflight.Set(1)
	defer defragInflight.Set(0)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return DefragResult{}, ErrClosed
	}
	b.readMu.Lock()
	defer b.readMu.Unlock()
	var res DefragResult
	if err := b.commitTx(); err != nil {
		b.closed.Store(true)
		return res, fmt.Errorf("backend %s: commit before defrag: %w", b.cfg.Path, err)
	}
	b.readers.Wait()
	b.readTx.Rollback()
	res.SizeBefore = fileSize(b.cfg.Path)

	tmpPath := b.cfg.Path + ".defrag"
	fpDefragBeforeCopy.Hit()
	err := defragTo(b.db, tmpPath)
	if cerr := b.db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close before swap: %w", cerr)
	}
	if err == nil {
		fpDefragBeforeRename.Hit()
		err = os.Rename(tmpPath, b.cfg.Path)
	}
	if err == nil {
		fpDefragAfterRename.Hit()
		// Commits after the swap go to the new file: the rename must be
		// durable before any of them is.
		err = syncDir(filepath.Dir(b.cfg.Path))
	}
	if err != nil {
		os.Remove(tmpPath)
		// Reopen whatever is at Path so the backend stays usable.
		if oerr := b.reopenLocked(); oerr != nil {
			b.closed.Store(true)
			return res, fmt.Errorf("backend %s: defrag: %v; reopen: %w", b.cfg.Path, err, oerr)
		}
		return res, fmt.Errorf("backend %s: defrag: %w", b.cfg.Path, err)
	}
	if err := b.reopenLocked(); err != nil {
		b.closed.Store(true)
		return res, err
	}
	res.SizeAfter = fileSize(b.cfg.Path)
	res.WritesBlocked = time.Since(start)
	defragSec.Observe(res.WritesBlocked.Seconds())
	return res, nil
}

// ReplaceWith makes the database file at src the backend's (a database
// received from the leader): it drops the writes not yet committed, waits
// for the read views of the current file to end (new ones wait), renames
// src over the backend's path, fsyncs the directory and opens the new
// file. The Backend stays the same object, so its holders never see a
// closed one; a Snapshot of the old file still being read keeps that file
// open until it is closed. Any failure closes the backend: what its path
// holds is then unknown, and the caller must stop.
func (b *Backend) ReplaceWith(src string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return ErrClosed
	}
	b.readMu.Lock()
	defer b.readMu.Unlock()
	// The batch's writes belong to the file being replaced: none of them
	// matters once the new one is in place.
	_ = b.tx.Rollback()
	b.readers.Wait()
	_ = b.readTx.Rollback()
	old := b.db
	fail := func(err error) error {
		b.closed.Store(true)
		old.Close()
		return fmt.Errorf("backend %s: replace with %s: %w", b.cfg.Path, src, err)
	}
	fpBeforeReplaceRename.Hit()
	if err := os.Rename(src, b.cfg.Path); err != nil {
		return fail(err)
	}
	if err := syncDir(filepath.Dir(b.cfg.Path)); err != nil {
		return fail(err)
	}
	fpAfterReplaceRename.Hit()
	if err := b.reopenLocked(); err != nil {
		return fail(err)
	}
	// Close waits for the old file's last read transactions (snapshots
	// being streamed); nothing here needs to wait for them.
	go old.Close()
	return nil
}

func (b *Backend) reopenLocked() error {
	db, err := bolt.Open(b.cfg.Path, 0o600, &bolt.Options{
		Timeout:         10 * time.Second,
		InitialMmapSize: b.cfg.MmapSize,
		FreelistType:    b.freelistType(),
		NoFreelistSync:  true,
		NoSync:          b.cfg.UnsafeNoFsync,
		Mlock:           b.cfg.Mlock,
	})
	if err != nil {
		return fmt.Errorf("reopen backend %s: %w", b.cfg.Path, err)
	}
	b.db = db
	return b.beginLocked()
}

// defragTo copies every bucket of src into a new compact file at path,
// opened as the backend opens its file, without a synced freelist (etcd's
// defrag copies so): the copy ends at its last page of data, as etcd's.
func defragTo(src *bolt.DB, path string) error {
	os.Remove(path)
	dst, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: true, NoFreelistSync: true})
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	const perTx = 10000
	err = src.View(func(stx *bolt.Tx) error {
		dtx, err := dst.Begin(true)
		if err != nil {
			return err
		}
		n := 0
		ferr := stx.ForEach(func(name []byte, sb *bolt.Bucket) error {
			db, err := dtx.CreateBucketIfNotExists(name)
			if err != nil {
				return err
			}
			db.FillPercent = 0.9 // keys go in in order
			c := sb.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if err := db.Put(k, v); err != nil {
					return err
				}
				if n++; n%perTx == 0 {
					if err := dtx.Commit(); err != nil {
						return err
					}
					if dtx, err = dst.Begin(true); err != nil {
						return err
					}
					if db = dtx.Bucket(name); db == nil {
						return fmt.Errorf("bucket %q vanished", name)
					}
					db.FillPercent = 0.9
				}
			}
			return nil
		})
		if ferr != nil {
			dtx.Rollback()
			return ferr
		}
		return dtx.Commit()
	})
	if err != nil {
		dst.Close()
		return fmt.Errorf("copy into %s: %w", path, err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return dst.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Verify checks that the file at path is a sound bbolt database: it opens
// read-only and every page passes bbolt's consistency check. The server
// runs it on a database received from the leader before using it.
func Verify(path string) error {
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		if size := fileSize(path); size < tx.Size() {
			return fmt.Errorf("check %s: truncated: %d bytes, pages reach %d", path, size, tx.Size())
		}
		for err := range tx.Check() {
			return fmt.Errorf("check %s: %w", path, err)
		}
		return nil
	})
}

// ScanFile opens the bbolt file at path read-only (it is not modified),
// checks it, and calls f for every key of every bucket in order. It
// returns the CRC-32C of every bucket name, key and value in that order
// (the hash `snapshot status` reports) and the size the pages reach.
func ScanFile(path string, f func(bucket, k, v []byte) error) (hash uint32, size int64, err error) {
	if _, err := os.Stat(path); err != nil {
		return 0, 0, err
	}
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return 0, 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	err = db.View(func(tx *bolt.Tx) error {
		var problems []string
		for err := range tx.Check() {
			problems = append(problems, err.Error())
		}
		if len(problems) > 0 {
			return fmt.Errorf("snapshot file integrity check failed. %d errors found.\n%s", len(problems), strings.Join(problems, "\n"))
		}
		size = tx.Size()
		return tx.ForEach(func(name []byte, bkt *bolt.Bucket) error {
			h.Write(name)
			return bkt.ForEach(func(k, v []byte) error {
				h.Write(k)
				h.Write(v)
				if f != nil {
					return f(name, k, v)
				}
				return nil
			})
		})
	})
	if err != nil {
		return 0, 0, err
	}
	return h.Sum32(), size, nil
}
