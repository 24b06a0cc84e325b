package vfs

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
)

// Op names an FS or File operation, for fault injection.
type Op uint8

const (
	OpCreate Op = iota + 1
	OpOpen
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpPreallocate
	OpRemove
	OpRename
	OpMkdir
	OpSyncDir
	OpLock
)

var opNames = [...]string{"", "create", "open", "read", "write", "sync", "truncate",
	"preallocate", "remove", "rename", "mkdir", "syncdir", "lock"}

func (o Op) String() string {
	if int(o) < len(opNames) && o != 0 {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Fault decides whether an operation fails: a non-nil result is the
// operation's error (wrapped in an *fs.PathError), and the operation has
// no effect. path is the cleaned path the operation names (for Rename, the
// old path). A Fault runs with the CrashFS locked and must not call it.
type Fault func(op Op, path string) error

// SetFault installs f, replacing any earlier one; nil removes it.
func (c *CrashFS) SetFault(f Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fault = f
}

// FailNth fails the nth (counting from 1) op that happens after the Fault
// is installed, and only that one: the next one succeeds, as a real fsync
// after a failed one may.
func FailNth(op Op, n int, err error) Fault {
	seen := 0
	return func(o Op, _ string) error {
		if o != op {
			return nil
		}
		seen++
		if seen == n {
			return err
		}
		return nil
	}
}

// FailFrom fails the nth op and every later one.
func FailFrom(op Op, n int, err error) Fault {
	seen := 0
	return func(o Op, _ string) error {
		if o != op {
			return nil
		}
		seen++
		if seen >= n {
			return err
		}
		return nil
	}
}

// FailMatch fails every op on a path whose base name matches pattern
// (filepath.Match syntax).
func FailMatch(op Op, pattern string, err error) Fault {
	return func(o Op, p string) error {
		if o != op {
			return nil
		}
		if ok, _ := filepath.Match(pattern, filepath.Base(p)); ok {
			return err
		}
		return nil
	}
}

// AnyFault combines faults: the first non-nil error wins. Every fault sees
// every operation, so counting faults stay in step.
func AnyFault(faults ...Fault) Fault {
	return func(o Op, p string) error {
		var first error
		for _, f := range faults {
			if err := f(o, p); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
}

// Crash simulates a power failure: every change not yet durable is lost
// (see CrashFS for what is durable), open files and locks die.
func (c *CrashFS) Crash() {
	c.crash(func(n int) (int, bool) { return 0, false }, nil)
}

// CrashTorn simulates a power failure during writeback: for each file, the
// first k of its pending changes (k uniform in [0, pending]) reach the
// disk, and if a write remains after them it may leave a random prefix of
// its bytes. Directory changes not synced are lost, as in Crash.
func (c *CrashFS) CrashTorn(rng *rand.Rand) {
	c.crash(func(n int) (int, bool) { return rng.IntN(n + 1), true }, rng)
}

// CrashTearLast simulates a power failure that loses only the tail of the
// last write to each file: every pending change but the last reaches the
// disk, and the last, if it is a write, keeps a random prefix of its bytes
// (possibly none, never all).
func (c *CrashFS) CrashTearLast(rng *rand.Rand) {
	c.crash(func(n int) (int, bool) { return n - 1, true }, rng)
}

// crash restores every node reachable from the durable root to its durable
// state, after letting keep(len(pending)) pending changes (and, if tear,
// part of the next write) through.
func (c *CrashFS) crash(keep func(int) (int, bool), rng *rand.Rand) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.locks = map[*memNode]bool{}
	seen := map[*memNode]bool{}
	var visit func(n *memNode)
	visit = func(n *memNode) {
		if seen[n] {
			return
		}
		seen[n] = true
		if n.dir {
			n.children = maps.Clone(n.durableChildren)
			for _, name := range slices.Sorted(maps.Keys(n.children)) {
				visit(n.children[name])
			}
			return
		}
		if len(n.pending) > 0 {
			k, tear := keep(len(n.pending))
			for _, ch := range n.pending[:k] {
				n.synced = ch.apply(n.synced)
			}
			if tear && k < len(n.pending) && n.pending[k].write {
				ch := n.pending[k]
				if ch.data = ch.data[:rng.IntN(len(ch.data))]; len(ch.data) > 0 {
					n.synced = ch.apply(n.synced)
				}
			}
		}
		n.pending = nil
		n.data = slices.Clone(n.synced)
	}
	visit(c.root)
}
