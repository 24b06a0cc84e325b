// Package schema names the member's bbolt buckets and keys outside the
// key-value store's own (which storage/mvcc and lease document), and
// creates them. The layout is etcd's, so that a data dir or database
// snapshot is read by etcd's tools and etcd's by basalt's:
//
//	bucket           key                               value
//	meta             consistent_index, term            uint64, big-endian (storage/mvcc)
//	meta             scheduledCompactRev, ...          (storage/mvcc)
//	meta             storageVersion                    StorageVersion, as text (basaltutl migrate
//	                                                   sets another or removes it: migrate.go)
//	members          member ID, hex                    the member as JSON (membership)
//	members_removed  member ID, hex                    "removed" (membership)
//	alarm            protobuf etcdserverpb.AlarmMember empty
//	cluster          clusterVersion                    the cluster version, as text
//	lease            (lease)
//	auth, authUsers, authRoles  (auth)
//	key              (storage/mvcc)
//
// and one bucket of basalt's own, which etcd's tools ignore:
//
//	refused_conf_changes  entry index, big-endian    the refusal's message
//
// A conf change the membership refuses (see membership.Validate) is
// recorded there in the batch of its consistent index, so that a restart
// replaying the log to raft skips it as the first application did: the
// membership it was validated against is gone by then. The bucket is
// created with the first refusal, so a database that never saw one is
// etcd's, bucket for bucket (and hashes as etcd's).
package schema

import (
	"fmt"

	"github.com/basaltkv/basalt/auth"
	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/mvcc"
)

// StorageVersion is the version of etcd's on-disk schema the backend
// follows, written to the meta bucket at every start (as etcd's
// storage-version monitor does) and reported by Status.
const StorageVersion = "3.7.0"

var (
	Members           = []byte("members")
	MembersRemoved    = []byte("members_removed")
	Alarm             = []byte("alarm")
	Cluster           = []byte("cluster")
	StorageVersionKey = []byte("storageVersion")
	ClusterVersionKey = []byte("clusterVersion")

	RefusedConfChanges = []byte("refused_conf_changes")
)

// Create creates every bucket the member uses that does not exist yet,
// records StorageVersion and gives auth its first revision, in one batch.
func Create(be *backend.Backend) error {
	tx := be.BatchTx()
	tx.Lock()
	var err error
	for _, b := range [][]byte{mvcc.MetaBucket, Members, MembersRemoved, Alarm, Cluster, []byte(lease.BucketName),
		auth.Bucket, auth.UsersBucket, auth.RolesBucket} {
		if err = tx.UnsafeCreateBucket(b); err != nil {
			break
		}
	}
	if err == nil {
		err = tx.UnsafePut(mvcc.MetaBucket, StorageVersionKey, []byte(StorageVersion))
	}
	if err == nil {
		err = auth.Init(batchReader{tx}, tx)
	}
	if uerr := tx.Unlock(); err == nil {
		err = uerr
	}
	if err != nil {
		return fmt.Errorf("create buckets: %w", err)
	}
	return nil
}

// batchReader reads through a held batch.
type batchReader struct{ tx *backend.BatchTx }

func (r batchReader) ForEach(bucket []byte, f func(k, v []byte) error) error {
	return r.tx.UnsafeForEach(bucket, f)
}
