package snap

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/basaltkv/basalt/raft/raftpb"
	"github.com/basaltkv/basalt/storage/vfs"
	"github.com/basaltkv/basalt/storage/wal"
)

const (
	snapExt   = ".snap"
	dbExt     = ".snap.db"
	tmpExt    = ".tmp"
	brokenExt = ".broken"
)

// Snapshotter keeps raft snapshot files and database snapshot files in one
// directory. Its methods are safe for concurrent use as long as no two
// calls write the same file (the same snapshot, or DB files of the same
// index) at once.
type Snapshotter struct {
	fs       vfs.FS
	dir      string
	log      *slog.Logger
	verifyDB func(fsys vfs.FS, path string) error
}

// Option configures New.
type Option func(*Snapshotter)

// WithLogger sets the logger for warnings about corrupt files.
func WithLogger(l *slog.Logger) Option { return func(s *Snapshotter) { s.log = l } }

// WithDBVerifier has SaveDBFrom call verify on every received database
// file (complete and fsynced, under its temporary name) before renaming
// it into place; an error rejects the file. The server passes a check
// that the file is a sound bbolt database.
func WithDBVerifier(verify func(fsys vfs.FS, path string) error) Option {
	return func(s *Snapshotter) { s.verifyDB = verify }
}

// New returns a Snapshotter for dir, creating dir (durably) if needed and
// removing temporary files a crash left behind. Call it once at startup,
// before anything saves into dir.
func New(fsys vfs.FS, dir string, opts ...Option) (*Snapshotter, error) {
	s := &Snapshotter{fs: fsys, dir: filepath.Clean(dir)}
	for _, opt := range opts {
		opt(s)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := vfs.MkdirAllSync(fsys, s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create snapshot directory %s: %w", s.dir, err)
	}
	names, err := fsys.List(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list snapshot directory %s: %w", s.dir, err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, tmpExt) {
			if err := fsys.Remove(filepath.Join(s.dir, name)); err != nil {
				return nil, fmt.Errorf("remove leftover %s: %w", filepath.Join(s.dir, name), err)
			}
		}
	}
	return s, nil
}

// Dir is the directory the Snapshotter keeps its files in.
func (s *Snapshotter) Dir() string { return s.dir }

// snapName identifies a snapshot file: %016x-%016x.snap (term, index).
type snapName struct{ term, index uint64 }

func (n snapName) String() string { return fmt.Sprintf("%016x-%016x%s", n.term, n.index, snapExt) }

func parseSnapName(name string) (snapName, bool) {
	var n snapName
	if len(name) != 33+len(snapExt) {
		return n, false
	}
	if _, err := fmt.Sscanf(name, "%016x-%016x.snap", &n.term, &n.index); err != nil {
		return n, false
	}
	return n, n.String() == name
}

// SaveSnap writes snapshot to its file durably: a temporary file, fsync,
// rename, fsync of the directory. Saving the same snapshot again replaces
// the file. Save the snapshot before recording its marker in the WAL.
func (s *Snapshotter) SaveSnap(snapshot raftpb.Snapshot) error {
	if snapshot.Metadata.Index == 0 {
		return ErrEmptySnapshot
	}
	start := time.Now()
	b, err := encode(&snapshot)
	if err != nil {
		return err
	}
	saveMarshalSec.Observe(time.Since(start).Seconds())
	name := snapName{term: snapshot.Metadata.Term, index: snapshot.Metadata.Index}
	err = s.writeAtomic(filepath.Join(s.dir, name.String()), func(f vfs.File) error {
		_, err := f.Write(b)
		return err
	}, nil, fsyncSec)
	if err != nil {
		return err
	}
	saveSec.Observe(time.Since(start).Seconds())
	return nil
}

// writeAtomic writes path through path.tmp: fill, fsync (observed in
// syncHist), check, rename, fsync the directory. On failure the temporary
// file is removed and path is untouched.
func (s *Snapshotter) writeAtomic(path string, fill func(vfs.File) error, check func(tmp string) error, syncHist prometheus.Histogram) (err error) {
	tmp := path + tmpExt
	f, err := s.fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			s.fs.Remove(tmp)
		}
	}()
	if err := fill(f); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	syncStart := time.Now()
	err = f.Sync()
	syncHist.Observe(time.Since(syncStart).Seconds())
	if err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	err, f = f.Close(), nil
	if err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if check != nil {
		if err := check(tmp); err != nil {
			return err
		}
	}
	if err := s.fs.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("sync snapshot directory %s: %w", s.dir, err)
	}
	return nil
}

// Load returns the newest snapshot that reads back intact. Corrupt files
// on the way are logged and renamed to NAME.broken. It returns
// ErrNoSnapshot if none is left.
func (s *Snapshotter) Load() (*raftpb.Snapshot, error) {
	return s.loadMatching(func(snapName) bool { return true })
}

// LoadNewestAvailable is Load restricted to snapshots the WAL can be
// opened at: the newest intact snapshot whose term and index equal one of
// markers (wal.ValidSnapshotMarkers).
func (s *Snapshotter) LoadNewestAvailable(markers []wal.Marker) (*raftpb.Snapshot, error) {
	return s.loadMatching(func(n snapName) bool {
		return slices.Contains(markers, wal.Marker{Index: n.index, Term: n.term})
	})
}

func (s *Snapshotter) loadMatching(match func(snapName) bool) (*raftpb.Snapshot, error) {
	names, err := s.snapNames()
	if err != nil {
		return nil, err
	}
	for i := len(names) - 1; i >= 0; i-- {
		if !match(names[i]) {
			continue
		}
		snap, err := s.read(names[i])
		if err == nil {
			return snap, nil
		}
		if !errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		path := filepath.Join(s.dir, names[i].String())
		s.log.Warn("skipping corrupt snapshot file", "file", path, "error", err)
		if rerr := s.fs.Rename(path, path+brokenExt); rerr != nil {
			s.log.Warn("cannot rename corrupt snapshot file", "file", path, "error", rerr)
		} else {
			s.fs.SyncDir(s.dir)
		}
	}
	return nil, ErrNoSnapshot
}

// Read loads one snapshot file (NAME.snap in the directory); errors
// about its contents wrap ErrCorrupt.
func (s *Snapshotter) read(n snapName) (*raftpb.Snapshot, error) {
	path := filepath.Join(s.dir, n.String())
	b, err := vfs.ReadFile(s.fs, path)
	if err != nil {
		return nil, fmt.Errorf("read snapshot %s: %w", path, err)
	}
	snap, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	if snap.Metadata.Term != n.term || snap.Metadata.Index != n.index {
		return nil, fmt.Errorf("snapshot %s: %w: holds term %d index %d", path, ErrCorrupt, snap.Metadata.Term, snap.Metadata.Index)
	}
	return &snap, nil
}

// snapNames lists the snapshot files, oldest (lowest index) first.
func (s *Snapshotter) snapNames() ([]snapName, error) {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list snapshot directory %s: %w", s.dir, err)
	}
	var snaps []snapName
	for _, name := range names {
		if n, ok := parseSnapName(name); ok {
			snaps = append(snaps, n)
		}
	}
	slices.SortFunc(snaps, func(a, b snapName) int {
		if a.index != b.index {
			return cmp.Compare(a.index, b.index)
		}
		return cmp.Compare(a.term, b.term)
	})
	return snaps, nil
}

// Purge removes the oldest snapshot files while more than maxSnapshots
// remain (maxSnapshots <= 0 keeps all, like etcd's --max-snapshots=0),
// and returns the paths removed.
func (s *Snapshotter) Purge(maxSnapshots int) ([]string, error) {
	if maxSnapshots <= 0 {
		return nil, nil
	}
	names, err := s.snapNames()
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, n := range names[:max(0, len(names)-maxSnapshots)] {
		path := filepath.Join(s.dir, n.String())
		if err := s.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("purge snapshot %s: %w", path, err)
		}
		removed = append(removed, path)
	}
	if len(removed) > 0 {
		if err := s.fs.SyncDir(s.dir); err != nil {
			return removed, fmt.Errorf("sync snapshot directory %s: %w", s.dir, err)
		}
	}
	return removed, nil
}
