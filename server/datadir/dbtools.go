package datadir

import (
	"bytes"
	"fmt"

	"github.com/basaltkv/basalt/server/schema"
	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/mvcc"
)

// Offline tools over a database file (a snapshot, or a stopped member's
// backend), as etcdutl's: status, hashkv and defrag.

// DBStatus is what `snapshot status` reports of a database file; the JSON
// names are etcdutl's.
type DBStatus struct {
	// Hash is the CRC-32C of every bucket name, key and value.
	Hash uint32 `json:"hash"`
	// Revision is the newest revision in the key bucket.
	Revision int64 `json:"revision"`
	// TotalKey counts the keys alive at Revision.
	TotalKey int `json:"totalKey"`
	// TotalSize is the size the database's pages reach.
	TotalSize int64 `json:"totalSize"`
	// Version is the storage version recorded in the file (empty before
	// etcd 3.6).
	Version string `json:"version"`
}

// DBFileStatus reads the database file at path without changing it.
func DBFileStatus(path string) (DBStatus, error) {
	var st DBStatus
	live := map[string]bool{}
	hash, size, err := backend.ScanFile(path, func(bucket, k, v []byte) error {
		switch {
		case bytes.Equal(bucket, mvcc.KeyBucket):
			rev, key, tombstone, err := mvcc.KeyBucketEntry(k, v)
			if err != nil {
				return fmt.Errorf("key bucket: %w", err)
			}
			st.Revision = rev.Main
			if tombstone {
				delete(live, string(key))
			} else {
				live[string(key)] = true
			}
		case bytes.Equal(bucket, mvcc.MetaBucket) && bytes.Equal(k, schema.StorageVersionKey):
			st.Version = string(v)
		}
		return nil
	})
	if err != nil {
		return DBStatus{}, err
	}
	st.Hash, st.TotalSize, st.TotalKey = hash, size, len(live)
	return st, nil
}

// DBHashKV is what `hashkv` reports of a database file; the JSON names are
// etcdutl's.
type DBHashKV struct {
	Hash            uint32 `json:"hash"`
	HashRevision    int64  `json:"hashRevision"`
	CompactRevision int64  `json:"compactRevision"`
}

// DBFileHashKV computes, on the database file at path, the hash of the
// keys' history up to rev (0: the newest) that HashKV returns on a member.
func DBFileHashKV(path string, rev int64) (DBHashKV, error) {
	be, err := backend.Open(backend.Config{Path: path})
	if err != nil {
		return DBHashKV{}, err
	}
	defer be.Close()
	s, err := mvcc.NewStore(be, nil, mvcc.Config{})
	if err != nil {
		return DBHashKV{}, err
	}
	defer s.Close()
	h, err := s.HashKV(rev)
	if err != nil {
		return DBHashKV{}, err
	}
	return DBHashKV{Hash: h.Hash, HashRevision: h.Revision, CompactRevision: h.CompactRevision}, nil
}

// DefragSizes are a database's size (the pages it reaches) and the size
// of its pages in use, as etcd's backend counts them (Size, SizeInUse).
type DefragSizes struct{ Size, InUse int64 }

// DefragDataDir defragments the backend of a stopped member's data dir.
// started, if not nil, is given the sizes once the database is open and
// before its copy starts (etcdutl logs them then); the sizes after are
// returned.
func DefragDataDir(dataDir string, started func(DefragSizes)) (DefragSizes, error) {
	be, err := backend.Open(backend.Config{Path: BackendPathOf(dataDir)})
	if err != nil {
		return DefragSizes{}, err
	}
	if started != nil {
		started(DefragSizes{Size: be.Size(), InUse: be.SizeInUse()})
	}
	_, err = be.Defrag()
	after := DefragSizes{Size: be.Size(), InUse: be.SizeInUse()}
	if cerr := be.Close(); err == nil {
		err = cerr
	}
	return after, err
}
