package schema

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/mvcc"
	"github.com/coreos/go-semver/semver"
	"go.etcd.io/etcd/api/v3/version"
	"go.uber.org/zap"
)

// The storage version is etcd's: versioned from 3.6 on by the meta
// bucket's storageVersion ("X.Y.0"); a database without it is 3.5's if
// etcd 3.5 recorded a consistent index with its term, which it does at
// its first raft snapshot. Each minor version's schema changes are listed
// in schemaChanges; a migration applies them one minor version at a time,
// forwards or (undoing them) backwards, and records the version reached
// after each step (or, reaching 3.5, has removed it with 3.6's change).

var errMissingTerm = errors.New("missing term information")

// schemaChange is something a minor version added to the schema, and how
// a downgrade below that version removes it.
type schemaChange struct {
	bucket, key, value []byte // the key put on upgrade, deleted on downgrade
}

// schemaChanges are the changes of each version from 3.6 on: 3.6 added the
// storage version itself (empty until the step records it), 3.7 nothing.
var schemaChanges = map[semver.Version][]schemaChange{
	version.V3_6: {{bucket: mvcc.MetaBucket, key: StorageVersionKey, value: []byte{}}},
	version.V3_7: {},
}

// metaGetter reads one key (a backend.ReadTx, or a held batch through
// batchGetter).
type metaGetter interface {
	Get(bucket, key []byte) ([]byte, bool)
}

type batchGetter struct{ tx *backend.BatchTx }

func (g batchGetter) Get(bucket, key []byte) ([]byte, bool) {
	_, vs := g.tx.UnsafeRange(bucket, key, nil, 0)
	if len(vs) == 0 {
		return nil, false
	}
	return vs[0], true
}

// DetectStorageVersion is the storage version of the database r reads:
// its storageVersion if that parses, else 3.5 if it records a consistent
// index and a non-zero term, else an error ("missing term information").
func DetectStorageVersion(r metaGetter) (semver.Version, error) {
	if v, ok := r.Get(mvcc.MetaBucket, StorageVersionKey); ok {
		if sv, err := semver.NewVersion(string(v)); err == nil {
			return *sv, nil
		}
	}
	if _, ok := r.Get(mvcc.MetaBucket, []byte("consistent_index")); ok {
		if t, ok := r.Get(mvcc.MetaBucket, []byte("term")); ok && len(t) == 8 && binary.BigEndian.Uint64(t) != 0 {
			return version.V3_5, nil
		}
	}
	return semver.Version{}, errMissingTerm
}

// DetectBatchStorageVersion is DetectStorageVersion within a held batch.
func DetectBatchStorageVersion(tx *backend.BatchTx) (semver.Version, error) {
	return DetectStorageVersion(batchGetter{tx})
}

// SetStorageVersion records v's major.minor as the storage version, in a
// held batch.
func SetStorageVersion(tx *backend.BatchTx, v semver.Version) error {
	sv := semver.Version{Major: v.Major, Minor: v.Minor}
	return tx.UnsafePut(mvcc.MetaBucket, StorageVersionKey, []byte(sv.String()))
}

// ClearStorageVersion removes the storage version, in a held batch.
func ClearStorageVersion(tx *backend.BatchTx) error {
	return tx.UnsafeDelete(mvcc.MetaBucket, StorageVersionKey)
}

// migrationStep takes the schema one minor version up or down.
type migrationStep struct {
	target  semver.Version
	upgrade bool
	changes []schemaChange
}

// newMigrationPlan lists the steps from current to target (their major
// and minor versions), as etcd plans them, logging to lg what etcd logs.
func newMigrationPlan(lg *zap.Logger, current, target semver.Version) ([]migrationStep, error) {
	current = semver.Version{Major: current.Major, Minor: current.Minor}
	target = semver.Version{Major: target.Major, Minor: target.Minor}
	if current.Major != target.Major {
		lg.Error("Changing major storage version is not supported",
			zap.String("storage-version", current.String()),
			zap.String("target-storage-version", target.String()))
		return nil, errors.New("changing major storage version is not supported")
	}
	var plan []migrationStep
	for current != target {
		step := migrationStep{upgrade: current.Minor < target.Minor, target: current}
		// A step up applies the next version's changes; a step down
		// undoes the current version's.
		changed := current
		if step.upgrade {
			changed.Minor++
			step.target.Minor++
		} else {
			step.target.Minor--
		}
		changes, ok := schemaChanges[changed]
		if !ok {
			return nil, fmt.Errorf("version %q is not supported", changed.String())
		}
		step.changes = changes
		plan = append(plan, step)
		current = step.target
	}
	return plan, nil
}

// execute applies the step in a held batch and records its target, which
// below 3.6 has no storage version.
func (s migrationStep) execute(tx *backend.BatchTx) error {
	for i := range s.changes {
		c := s.changes[i]
		if !s.upgrade {
			c = s.changes[len(s.changes)-1-i] // undone in reverse order
		}
		var err error
		if s.upgrade {
			err = tx.UnsafePut(c.bucket, c.key, c.value)
		} else {
			err = tx.UnsafeDelete(c.bucket, c.key)
		}
		if err != nil {
			return err
		}
	}
	if s.target.LessThan(version.V3_6) {
		return nil
	}
	return SetStorageVersion(tx, s.target)
}

// Migrate takes the storage version of the database in the held batch tx
// to target, one minor version at a time, as etcd's schema migration
// does, logging each step reached to lg. A downgrade below
// walVersion() (MinimalEtcdVersion of the WAL's entries after its newest
// snapshot; nil: any) is refused, since an older etcd could not apply
// them; walVersion is called only for a downgrade. Nothing is written
// when the plan or the WAL refuses.
func Migrate(lg *zap.Logger, tx *backend.BatchTx, walVersion func() (*semver.Version, error), target semver.Version) error {
	current, err := DetectBatchStorageVersion(tx)
	if err != nil {
		return fmt.Errorf("cannot detect storage schema version: %w", err)
	}
	plan, err := newMigrationPlan(lg, current, target)
	if err != nil {
		return fmt.Errorf("cannot create migration plan: %w", err)
	}
	if target.LessThan(current) {
		minVersion, err := walVersion()
		if err != nil {
			return err
		}
		if minVersion != nil && target.LessThan(*minVersion) {
			return fmt.Errorf("cannot downgrade storage, WAL contains newer entries, as the target version (%s) is lower than the version (%s) detected from WAL logs",
				target.String(), minVersion.String())
		}
	}
	for _, s := range plan {
		if err := s.execute(tx); err != nil {
			return err
		}
		lg.Info("updated storage version", zap.String("new-storage-version", s.target.String()))
	}
	return nil
}
