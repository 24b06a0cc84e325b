package mvcc

import (
	"errors"
	"fmt"
)

// ErrRevisionNotFound: the key has no revision at or below the one asked.
var ErrRevisionNotFound = errors.New("mvcc: revision not found")

// keyIndex is the history of one key: its generations, oldest first. The
// last generation is the live one (empty if the key is deleted now).
type keyIndex struct {
	key         []byte
	modified    Revision
	generations []generation
}

// generation is one life of a key: created by a put, ended by a tombstone
// (the last revision of every generation but the last).
type generation struct {
	ver     int64
	created Revision
	revs    []Revision
}

func (g *generation) isEmpty() bool { return g == nil || len(g.revs) == 0 }

// walk visits revisions newest first until f returns false, and returns
// the index where it stopped, or -1.
func (g *generation) walk(f func(rev Revision) bool) int {
	for i := len(g.revs) - 1; i >= 0; i-- {
		if !f(g.revs[i]) {
			return i
		}
	}
	return -1
}

// put adds a revision to the live generation, and reports whether it
// created the key (began the generation).
func (ki *keyIndex) put(main, sub int64) (created bool) {
	rev := Revision{Main: main, Sub: sub}
	if !rev.GreaterThan(ki.modified) {
		panic(fmt.Sprintf("mvcc: put of %q at %+v is not after %+v", ki.key, rev, ki.modified))
	}
	if len(ki.generations) == 0 {
		ki.generations = append(ki.generations, generation{})
	}
	g := &ki.generations[len(ki.generations)-1]
	if len(g.revs) == 0 {
		g.created = rev
		created = true
	}
	g.revs = append(g.revs, rev)
	g.ver++
	ki.modified = rev
	return created
}

// restore sets up a key read from the backend whose history starts at
// created and was last modified at modified.
func (ki *keyIndex) restore(created, modified Revision, ver int64) {
	ki.modified = modified
	ki.generations = append(ki.generations, generation{ver: ver, created: created, revs: []Revision{modified}})
}

// restoreTombstone sets up a key whose oldest record in the backend is a
// tombstone: compaction at that revision kept it and dropped the rest of
// its generation, whose creation is unknown.
func (ki *keyIndex) restoreTombstone(rev Revision) {
	ki.restore(Revision{}, rev, 1)
	ki.generations = append(ki.generations, generation{})
}

// tombstone ends the live generation.
func (ki *keyIndex) tombstone(main, sub int64) error {
	if ki.isEmpty() || ki.generations[len(ki.generations)-1].isEmpty() {
		return ErrRevisionNotFound
	}
	ki.put(main, sub)
	ki.generations = append(ki.generations, generation{})
	return nil
}

// get returns, at atRev, the revision holding the key's value, the
// revision that created it and its version.
func (ki *keyIndex) get(atRev int64) (modified, created Revision, ver int64, err error) {
	g := ki.findGeneration(atRev)
	if g.isEmpty() {
		return Revision{}, Revision{}, 0, ErrRevisionNotFound
	}
	n := g.walk(func(rev Revision) bool { return rev.Main > atRev })
	if n == -1 {
		return Revision{}, Revision{}, 0, ErrRevisionNotFound
	}
	return g.revs[n], g.created, g.ver - int64(len(g.revs)-n-1), nil
}

// findGeneration returns the generation live at rev, or nil if the key
// did not exist at rev.
func (ki *keyIndex) findGeneration(rev int64) *generation {
	last := len(ki.generations) - 1
	for gi := last; gi >= 0; gi-- {
		g := &ki.generations[gi]
		if len(g.revs) == 0 {
			continue
		}
		if gi != last {
			// An ended generation: its last revision is the tombstone.
			if tomb := g.revs[len(g.revs)-1].Main; tomb <= rev {
				return nil
			}
		}
		if g.revs[0].Main <= rev {
			return g
		}
	}
	return nil
}

// compact drops history at or below atRev. It keeps the latest revision
// at or below atRev of the generation live at atRev — and of the one that
// ended exactly at atRev, whose tombstone stays until a later compaction,
// so that a watcher starting at atRev still receives the delete (etcd
// 3.4 dropped it; 3.5.16 and later keep it). available collects the
// revisions kept, which compaction must not delete from the backend. A
// key left with nothing is empty (isEmpty): the index drops it.
func (ki *keyIndex) compact(atRev int64, available map[Revision]struct{}) {
	if ki.isEmpty() {
		return
	}
	genIdx, revIndex := ki.doCompact(atRev, available)
	g := &ki.generations[genIdx]
	if !g.isEmpty() && revIndex != -1 {
		g.revs = g.revs[revIndex:]
	}
	ki.generations = ki.generations[genIdx:]
}

// keep marks what compact(atRev) would keep, changing nothing — except a
// tombstone at atRev, which compact keeps but keep leaves out: the hash
// of the history (HashKV) must come out the same on members that drop it
// (etcd before 3.5.16) and members that keep it.
func (ki *keyIndex) keep(atRev int64, available map[Revision]struct{}) {
	if ki.isEmpty() {
		return
	}
	genIdx, revIndex := ki.doCompact(atRev, available)
	g := &ki.generations[genIdx]
	if !g.isEmpty() && revIndex == len(g.revs)-1 && genIdx != len(ki.generations)-1 {
		delete(available, g.revs[revIndex])
	}
}

func (ki *keyIndex) doCompact(atRev int64, available map[Revision]struct{}) (genIdx, revIndex int) {
	// Skip generations that ended before atRev.
	for genIdx < len(ki.generations)-1 {
		g := &ki.generations[genIdx]
		if tomb := g.revs[len(g.revs)-1].Main; tomb >= atRev {
			break
		}
		genIdx++
	}
	g := &ki.generations[genIdx]
	revIndex = g.walk(func(rev Revision) bool {
		if rev.Main <= atRev {
			available[rev] = struct{}{}
			return false
		}
		return true
	})
	return genIdx, revIndex
}

// isLive reports whether the key exists now: its last generation is not
// ended.
func (ki *keyIndex) isLive() bool {
	return len(ki.generations) > 0 && !ki.generations[len(ki.generations)-1].isEmpty()
}

func (ki *keyIndex) isEmpty() bool {
	return len(ki.generations) == 1 && ki.generations[0].isEmpty()
}
