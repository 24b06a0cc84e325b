package datadir

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/storage/snap"
	"github.com/basaltkv/basalt/storage/v2store"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/basaltkv/basalt/storage/wal"
	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// V2MigrateConfig describes etcdctl 3.4's `migrate`: the v2 keys of a
// stopped member's data dir written into its database as v3 keys.
type V2MigrateConfig struct {
	// DataDir is the member's data dir; WALDir its WAL if not in DataDir.
	DataDir, WALDir string
	// NoTTL leaves out the keys that have a TTL.
	NoTTL bool
	// Transformer, if set, is a program that turns the v2 nodes (JSON,
	// one after the other, on its stdin) into v3 keys (each an 8-byte
	// little-endian length and an mvccpb.KeyValue, on its stdout).
	// Without it, every key becomes a v3 key of the same name and value
	// whose create and mod revisions are its v2 indexes, at version 1;
	// directories are left out.
	Transformer string
	// Out receives the progress lines etcdctl prints; Err the wait for
	// the database's lock.
	Out, Err io.Writer
}

// MigrateV2 runs the migration, as etcdctl 3.4 does: it rebuilds the v2
// store from the newest snapshot and the WAL after it, writes every
// visible key under the keys namespace through the transformer into the
// database's key bucket (at the revision of its v2 modified index), and
// raises the database's consistent index to the last entry read.
func MigrateV2(cfg V2MigrateConfig) error {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Err == nil {
		cfg.Err = io.Discard
	}
	var (
		in     io.WriteCloser
		out    io.ReadCloser
		finish func() error
		err    error
	)
	if cfg.Transformer != "" {
		in, out, finish, err = startTransformer(cfg.Transformer)
		if err != nil {
			return err
		}
	} else {
		fmt.Fprintln(cfg.Out, "using default transformer")
		in, out, finish = defaultTransformer()
	}
	layout := Layout{DataDir: cfg.DataDir, WALDir: cfg.WALDir}
	st, index, err := rebuildV2Store(layout)
	if err != nil {
		in.Close()
		return err
	}
	db, err := openMigrateDB(layout.BackendPath(), cfg.Err)
	if err != nil {
		in.Close()
		return err
	}
	defer db.Close()
	writeErr := make(chan error, 1)
	go func() {
		err := writeV2Nodes(in, st, cfg.NoTTL)
		in.Close()
		writeErr <- err
	}()
	readErr := readV3Keys(out, db)
	if err := errors.Join(<-writeErr, readErr); err != nil {
		return err
	}
	if err := raiseConsistentIndex(db, index); err != nil {
		return err
	}
	if err := finish(); err != nil {
		fmt.Fprintln(cfg.Out, "failed to transform keys")
		return err
	}
	fmt.Fprintln(cfg.Out, "finished transforming keys")
	return nil
}

// rebuildV2Store is the v2 store of the newest snapshot with the WAL's
// v2 requests after it applied, and the index of the last entry read.
func rebuildV2Store(layout Layout) (*v2store.Store, uint64, error) {
	if _, err := os.ReadDir(layout.SnapDir()); err != nil {
		return nil, 0, err
	}
	ss, err := snap.New(vfs.OS, layout.SnapDir())
	if err != nil {
		return nil, 0, unwrapPathError(err)
	}
	var snapshot *raftpb.Snapshot
	if markers, merr := wal.ValidSnapshotMarkers(vfs.OS, layout.WALPath()); merr == nil {
		snapshot, err = ss.LoadNewestAvailable(markers)
	} else {
		snapshot, err = ss.Load()
	}
	if err != nil && !errors.Is(err, snap.ErrNoSnapshot) {
		return nil, 0, err
	}
	st := v2store.New("/0", "/1")
	var marker wal.Marker
	if snapshot != nil {
		if len(snapshot.Data) > 0 {
			if err := st.Recover(snapshot.Data); err != nil {
				return nil, 0, err
			}
		}
		marker = wal.Marker{Index: snapshot.Metadata.Index, Term: snapshot.Metadata.Term}
	}
	w, err := wal.OpenForRead(vfs.OS, layout.WALPath(), marker)
	if errors.Is(err, wal.ErrNoWAL) {
		err = errors.New("wal: file not found")
	}
	if err != nil {
		return nil, 0, unwrapPathError(err)
	}
	defer w.Close()
	_, _, ents, err := w.ReadAll()
	if err != nil {
		return nil, 0, err
	}
	index := marker.Index
	for i := range ents {
		e := &ents[i]
		if e.Type == raftpb.EntryNormal {
			if r, _ := v2store.RequestFromEntry(e.Data); r != nil {
				// Errors are the requests' own (a failed compare...).
				_, _ = st.Apply(r)
			}
		}
		index = max(index, e.Index)
	}
	return st, index, nil
}

// writeV2Nodes writes every visible node under the keys namespace, as
// JSON with its key relative to it (directories without their children),
// depth first.
func writeV2Nodes(w io.Writer, st *v2store.Store, noTTL bool) error {
	ev, err := st.Get("/1", true, true)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	var write func(n *v2store.NodeExtern) error
	write = func(n *v2store.NodeExtern) error {
		children := n.Nodes
		if len(n.Key) >= 2 {
			n.Key = n.Key[2:]
		}
		if n.Key == "" {
			n.Key = "/"
		}
		if n.Dir {
			n.Nodes = nil
		}
		if !noTTL || n.TTL == 0 {
			b, err := json.Marshal(n)
			if err != nil {
				return err
			}
			if _, err := bw.Write(b); err != nil {
				return err
			}
		}
		for _, c := range children {
			if err := write(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := write(ev.Node); err != nil {
		return err
	}
	return bw.Flush()
}

// v2Node is a node as the default transformer reads it.
type v2Node struct {
	Key           string `json:"key"`
	Value         string `json:"value"`
	Dir           bool   `json:"dir"`
	CreatedIndex  uint64 `json:"createdIndex"`
	ModifiedIndex uint64 `json:"modifiedIndex"`
}

// defaultTransformer turns each key into a v3 key of the same name and
// value, at its v2 indexes, version 1; directories are dropped.
func defaultTransformer() (io.WriteCloser, io.ReadCloser, func() error) {
	sr, sw := io.Pipe()
	dr, dw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		defer sr.Close()
		dec := json.NewDecoder(sr)
		for dec.More() {
			var n v2Node
			if err := dec.Decode(&n); err != nil {
				dw.CloseWithError(err)
				errc <- err
				return
			}
			if n.Dir {
				continue
			}
			kv := &mvccpb.KeyValue{Key: []byte(n.Key), Value: []byte(n.Value),
				CreateRevision: int64(n.CreatedIndex), ModRevision: int64(n.ModifiedIndex), Version: 1}
			if err := writeFramedKV(dw, kv); err != nil {
				dw.CloseWithError(err)
				errc <- err
				return
			}
		}
		dw.Close()
		errc <- nil
	}()
	return sw, dr, func() error { return <-errc }
}

func writeFramedKV(w io.Writer, kv *mvccpb.KeyValue) error {
	data, err := proto.Marshal(kv)
	if err != nil {
		return err
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(data)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// startTransformer runs the user's transformer program.
func startTransformer(path string) (io.WriteCloser, io.ReadCloser, func() error, error) {
	cmd := exec.Command(path)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, err
	}
	return in, out, cmd.Wait, nil
}

// readV3Keys reads framed keys and puts each in the key bucket at its mod
// revision.
func readV3Keys(r io.Reader, db *bolt.DB) error {
	br := bufio.NewReader(r)
	return db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("key"))
		if err != nil {
			return err
		}
		for {
			var n [8]byte
			if _, err := io.ReadFull(br, n[:]); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			data := make([]byte, binary.LittleEndian.Uint64(n[:]))
			if _, err := io.ReadFull(br, data); err != nil {
				return err
			}
			var kv mvccpb.KeyValue
			if err := proto.Unmarshal(data, &kv); err != nil {
				return err
			}
			rev := make([]byte, 17)
			binary.BigEndian.PutUint64(rev, uint64(kv.ModRevision))
			rev[8] = '_'
			if err := b.Put(rev, data); err != nil {
				return err
			}
		}
	})
}

// raiseConsistentIndex sets the database's consistent index to index if
// it is lower.
func raiseConsistentIndex(db *bolt.DB, index uint64) error {
	return db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("meta"))
		if err != nil {
			return err
		}
		if old := b.Get([]byte("consistent_index")); len(old) == 8 && binary.BigEndian.Uint64(old) >= index {
			return nil
		}
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, index)
		return b.Put([]byte("consistent_index"), v)
	})
}

// openMigrateDB opens the database, saying so when a running member holds
// its lock (as etcdctl does after a second).
func openMigrateDB(path string, errOut io.Writer) (*bolt.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		fmt.Fprintf(errOut, "waiting for etcd to close and release its lock on %q\n", path)
		db, err = bolt.Open(path, 0o600, nil)
	}
	return db, err
}
