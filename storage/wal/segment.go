package wal

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/basaltkv/basalt/storage/vfs"
)

// segmentName is a segment's place in the WAL: its sequence number and
// the raft index of the first entry appended after it was cut.
type segmentName struct {
	seq, index uint64
}

const (
	segmentExt = ".wal"
	tmpExt     = ".tmp"
)

func (s segmentName) String() string { return fmt.Sprintf("%016x-%016x%s", s.seq, s.index, segmentExt) }

// parseSegmentName accepts exactly the names String produces.
func parseSegmentName(name string) (segmentName, bool) {
	var s segmentName
	if len(name) != 16+1+16+len(segmentExt) || !strings.HasSuffix(name, segmentExt) {
		return s, false
	}
	if _, err := fmt.Sscanf(name, "%016x-%016x.wal", &s.seq, &s.index); err != nil {
		return s, false
	}
	return s, s.String() == name
}

// listSegments returns the segments in dir, oldest first, and the
// temporary files an interrupted cut or Create may have left. Other files
// are logged and ignored.
func listSegments(fsys vfs.FS, dir string, log *slog.Logger) (segs []segmentName, tmps []string, err error) {
	names, err := fsys.List(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list wal directory %s: %w", dir, err)
	}
	for _, name := range names {
		if s, ok := parseSegmentName(name); ok {
			segs = append(segs, s)
			continue
		}
		if strings.HasSuffix(name, segmentExt+tmpExt) || isEtcdTmp(name) {
			tmps = append(tmps, name)
			continue
		}
		log.Warn("ignoring unexpected file in wal directory", "dir", dir, "file", name)
	}
	// Names sort by sequence (fixed-width hex); a gap means a segment is
	// missing. Indexes need not grow: a leader overwriting an uncommitted
	// tail can make a segment start below its predecessor.
	for i := 1; i < len(segs); i++ {
		if prev, s := segs[i-1], segs[i]; s.seq != prev.seq+1 {
			return nil, nil, fmt.Errorf("%w: wal directory %s: segment %s follows %s (missing segment?)",
				ErrCorrupt, dir, s, prev)
		}
	}
	return segs, tmps, nil
}

// isEtcdTmp reports whether name is one of the preallocated files etcd
// keeps ready for its next cuts ("0.tmp", "1.tmp").
func isEtcdTmp(name string) bool {
	digits := strings.TrimSuffix(name, tmpExt)
	return len(digits) > 0 && len(digits) < len(name) && strings.Trim(digits, "0123456789") == ""
}

// searchIndex returns the position of the segment from which a reader
// must start to see every entry after a snapshot at index: the last one
// cut when the log ended at or below it. Every entry after index that is
// still in the log was appended after that cut. It returns -1 if the
// oldest segment was cut later (the segments needed were purged).
func searchIndex(segs []segmentName, index uint64) int {
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].index <= index {
			return i
		}
	}
	return -1
}

func (s segmentName) path(dir string) string { return filepath.Join(dir, s.String()) }
