package backend

import (
	"bytes"
	"encoding/binary"
	"fmt"
	bolt "go.etcd.io/bbolt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/basaltkv/basalt/pkg/testutil"
)

var testBucket = []byte("test")

func openTest(t *testing.T, cfg Config) *Backend {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "db")
	}
	if cfg.MmapSize == 0 {
		cfg.MmapSize = 1 << 20
	}
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	tx := b.BatchTx()
	tx.Lock()
	if err := tx.UnsafeCreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	if err := tx.Unlock(); err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t *testing.T, b *Backend, kvs ...string) {
	t.Helper()
	tx := b.BatchTx()
	tx.Lock()
	for i := 0; i+1 < len(kvs); i += 2 {
		if err := tx.UnsafePut(testBucket, []byte(kvs[i]), []byte(kvs[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func del(t *testing.T, b *Backend, keys ...string) {
	t.Helper()
	tx := b.BatchTx()
	tx.Lock()
	for _, k := range keys {
		if err := tx.UnsafeDelete(testBucket, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func readAll(b *Backend, key, end string, limit int64) []string {
	v := b.ReadTx()
	defer v.End()
	var e []byte
	if end != "" {
		e = []byte(end)
	}
	keys, vals := v.Range(testBucket, []byte(key), e, limit)
	var out []string
	for i := range keys {
		out = append(out, string(keys[i])+"="+string(vals[i]))
	}
	return out
}

func TestReadsSeeUncommittedAndCommittedWrites(t *testing.T) {
	b := openTest(t, Config{BatchInterval: time.Hour, BatchLimit: 1 << 30})
	put(t, b, "a", "1", "c", "3")
	if err := b.ForceCommit(); err != nil {
		t.Fatal(err)
	}
	put(t, b, "b", "2", "c", "33")
	del(t, b, "a")
	tests := []struct {
		key, end string
		limit    int64
		want     []string
	}{
		{"a", "", 0, nil},
		{"b", "", 0, []string{"b=2"}},
		{"c", "", 0, []string{"c=33"}},
		{"a", "z", 0, []string{"b=2", "c=33"}},
		{"a", "z", 1, []string{"b=2"}},
		{"c", "d", 0, []string{"c=33"}},
	}
	for _, tt := range tests {
		if got := readAll(b, tt.key, tt.end, tt.limit); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Range(%q,%q,%d) = %v, want %v", tt.key, tt.end, tt.limit, got, tt.want)
		}
	}
	// The same after a commit.
	if err := b.ForceCommit(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(b, "a", "z", 0); fmt.Sprint(got) != "[b=2 c=33]" {
		t.Fatalf("after commit: %v", got)
	}
}

func TestViewIsStableWhileWritesContinue(t *testing.T) {
	b := openTest(t, Config{BatchInterval: time.Hour, BatchLimit: 1 << 30})
	put(t, b, "a", "1")
	v := b.ReadTx()
	put(t, b, "a", "2", "b", "2")
	if err := b.ForceCommit(); err != nil {
		t.Fatal(err)
	}
	keys, vals := v.Range(testBucket, []byte("a"), []byte("z"), 0)
	if len(keys) != 1 || string(vals[0]) != "1" {
		t.Fatalf("old view changed: %q %q", keys, vals)
	}
	v.End()
	if got := readAll(b, "a", "z", 0); fmt.Sprint(got) != "[a=2 b=2]" {
		t.Fatalf("new view: %v", got)
	}
}

func TestCommitByLimitAndInterval(t *testing.T) {
	b := openTest(t, Config{BatchInterval: time.Hour, BatchLimit: 10})
	before := b.Commits()
	for i := 0; i < 10; i++ {
		put(t, b, fmt.Sprintf("k%d", i), "v")
	}
	if b.Commits() <= before {
		t.Fatal("no commit after BatchLimit operations")
	}
	b2 := openTest(t, Config{BatchInterval: 5 * time.Millisecond, BatchLimit: 1 << 30})
	before = b2.Commits()
	put(t, b2, "x", "y")
	testutil.WaitUntil(t, 5*time.Second, "a commit after BatchInterval", func() bool { return b2.Commits() != before })
}

// TestUncommittedBatchIsLostOnCrash copies the file while a batch is open:
// the copy is what a crash leaves behind.
func TestUncommittedBatchIsLostOnCrash(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, Config{Path: filepath.Join(dir, "db"), BatchInterval: time.Hour, BatchLimit: 1 << 30})
	put(t, b, "committed", "1")
	if err := b.ForceCommit(); err != nil {
		t.Fatal(err)
	}
	put(t, b, "uncommitted", "2")
	crashed := filepath.Join(dir, "crashed")
	copyFile(t, b.Path(), crashed)
	b2, err := Open(Config{Path: crashed, MmapSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if got := readAll(b2, "a", "z", 0); fmt.Sprint(got) != "[committed=1]" {
		t.Fatalf("after crash: %v", got)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	b := openTest(t, Config{Path: path})
	put(t, b, "k", "v")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := Open(Config{Path: path, MmapSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if got := readAll(b2, "k", "", 0); fmt.Sprint(got) != "[k=v]" {
		t.Fatalf("after reopen: %v", got)
	}
}

func TestDefragHashAndSnapshot(t *testing.T) {
	b := openTest(t, Config{BatchInterval: time.Hour, BatchLimit: 1000})
	val := bytes.Repeat([]byte("x"), 1024)
	for i := 0; i < 2000; i++ {
		put(t, b, fmt.Sprintf("k%05d", i), string(val))
	}
	for i := 0; i < 1900; i++ {
		del(t, b, fmt.Sprintf("k%05d", i))
	}
	h1, err := b.Hash(nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Defrag()
	if err != nil {
		t.Fatal(err)
	}
	if res.SizeAfter >= res.SizeBefore {
		t.Fatalf("defrag did not shrink: %+v", res)
	}
	h2, err := b.Hash(nil)
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 {
		t.Fatalf("hash changed across defrag: %x != %x", h1, h2)
	}
	if got := len(readAll(b, "k", "l", 0)); got != 100 {
		t.Fatalf("%d keys after defrag, want 100", got)
	}
	put(t, b, "after", "defrag")
	snap, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "snap.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	size := snap.Size()
	n, err := snap.WriteTo(f)
	snap.Close()
	f.Close()
	if err != nil || n != size {
		t.Fatalf("snapshot wrote %d of %d: %v", n, size, err)
	}
	b3, err := Open(Config{Path: path, MmapSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer b3.Close()
	if got := readAll(b3, "after", "", 0); fmt.Sprint(got) != "[after=defrag]" {
		t.Fatalf("snapshot content: %v", got)
	}
}

// TestDefragWritesNoFreelist: the defragmented copy's meta page records
// no freelist (etcd's defrag opens the copy with NoFreelistSync, as every
// backend opens its file), so the copy holds no freelist page and ends
// where etcd's does.
func TestDefragWritesNoFreelist(t *testing.T) {
	dir := t.TempDir()
	src, err := bolt.Open(filepath.Join(dir, "src"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(testBucket)
		for i := 0; err == nil && i < 500; i++ {
			err = b.Put([]byte(fmt.Sprintf("k%05d", i)), []byte("v"))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "copy")
	if err := defragTo(src, path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// bbolt's two meta pages: a 16-byte page header, then magic, version,
	// page size and flags (4 bytes each), the root bucket (16), freelist,
	// high-water page and txid (8 each). The one with the higher txid is
	// current.
	pageSize := int(binary.LittleEndian.Uint32(data[24:]))
	meta := data[16:]
	if other := data[pageSize+16:]; binary.LittleEndian.Uint64(other[48:]) > binary.LittleEndian.Uint64(meta[48:]) {
		meta = other
	}
	if fl := binary.LittleEndian.Uint64(meta[32:]); fl != ^uint64(0) {
		t.Errorf("the defragmented copy's meta records freelist page %d, want none", fl)
	}
}

// TestRandomAgainstMap checks reads against a map model while writes,
// commits and concurrent readers interleave.
func TestRandomAgainstMap(t *testing.T) {
	b := openTest(t, Config{BatchInterval: 2 * time.Millisecond, BatchLimit: 50})
	rng := rand.New(rand.NewPCG(7, 7))
	model := map[string]string{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				v := b.ReadTx()
				keys, _ := v.Range(testBucket, []byte("k"), []byte("l"), 0)
				if !sort.SliceIsSorted(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 }) {
					t.Error("range out of order")
				}
				v.End()
			}
		}()
	}
	for i := 0; i < 3000; i++ {
		k := fmt.Sprintf("k%03d", rng.IntN(200))
		if rng.IntN(3) == 0 {
			del(t, b, k)
			delete(model, k)
		} else {
			val := fmt.Sprint(i)
			put(t, b, k, val)
			model[k] = val
		}
		if i%97 == 0 {
			var want []string
			for k, v := range model {
				want = append(want, k+"="+v)
			}
			sort.Strings(want)
			if got := readAll(b, "k", "l", 0); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("step %d: got %v\nwant %v", i, got, want)
			}
		}
	}
	close(stop)
	wg.Wait()
}

// TestOptionsReachBbolt: the freelist type and NoSync given are bbolt's,
// also after a defragmentation reopens the file.
func TestOptionsReachBbolt(t *testing.T) {
	for _, tt := range []struct {
		cfg      Config
		freelist bolt.FreelistType
		noSync   bool
	}{
		{Config{}, bolt.FreelistMapType, false},
		{Config{FreelistArray: true, UnsafeNoFsync: true}, bolt.FreelistArrayType, true},
	} {
		b := openTest(t, tt.cfg)
		check := func(when string) {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.db.FreelistType != tt.freelist || b.db.NoSync != tt.noSync {
				t.Errorf("%s, config %+v: bbolt freelist %q, NoSync %v", when, tt.cfg, b.db.FreelistType, b.db.NoSync)
			}
		}
		check("opened")
		if _, err := b.Defrag(); err != nil {
			t.Fatal(err)
		}
		check("defragmented")
	}
}
