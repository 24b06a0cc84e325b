package v2store

import (
	"fmt"
	"path"
	"strings"
	"sync"
	"time"
)

// Store is the v2 key space. Reads may run concurrently with each other;
// changes come from one goroutine (the member's applier) and exclude
// reads while they run.
type Store struct {
	mu sync.RWMutex
	// root holds the namespaces; index is the store's index: the index of
	// its last change.
	root     *node
	index    uint64
	version  int
	hub      *watcherHub
	ttls     ttlHeap
	stats    *Stats
	readonly map[string]bool
	// now reads the clock, only to show the TTL left (tests replace it).
	now func() time.Time
}

// New is an empty store with the given namespaces (top-level
// directories, read-only like the root).
func New(namespaces ...string) *Store {
	s := &Store{version: 2, stats: &Stats{}, readonly: map[string]bool{"/": true}, now: time.Now}
	s.hub = newWatcherHub(historyCapacity, &metrics)
	s.root = newDir("/", 0, nil, Permanent)
	for _, ns := range namespaces {
		s.root.Children[path.Base(ns)] = newDir(ns, 0, s.root, Permanent)
		s.readonly[ns] = true
	}
	return s
}

// SetClock replaces the clock the store shows TTLs with (tests).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Index is the store's index.
func (s *Store) Index() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index
}

// Get reads a key, or a directory with its children (and their subtrees
// when recursive), sorted by key when asked.
func (s *Store) Get(nodePath string, recursive, sorted bool) (*Event, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	action := Get
	if recursive {
		action = getRecursive
	}
	nodePath = clean(nodePath)
	n, err := s.getLocked(nodePath)
	if err != nil {
		s.stats.inc(&s.stats.GetFail)
		metrics.read(action, false)
		return nil, err
	}
	e := newEvent(Get, nodePath, n.ModifiedIndex, n.CreatedIndex)
	e.EtcdIndex = s.index
	now := s.now()
	if n.isDir() {
		e.Node.Dir = true
		e.Node.Nodes = n.externChildren(recursive, sorted, now)
	} else {
		v := n.Value
		e.Node.Value = &v
	}
	e.Node.Expiration, e.Node.TTL = n.expirationAndTTL(now)
	s.stats.inc(&s.stats.GetSuccess)
	metrics.read(action, true)
	return e, nil
}

// TTLOptions are a write's expiry: ExpireTime (zero: none) and Refresh,
// which changes the TTL alone, keeps the value and tells no watcher.
type TTLOptions struct {
	ExpireTime time.Time
	Refresh    bool
}

// Create makes a new key or directory; with unique, a new key under
// nodePath named by the next index (an in-order key).
func (s *Store) Create(nodePath string, dir bool, value string, unique bool, opts TTLOptions) (*Event, error) {
	return s.write(Create, &s.stats.CreateSuccess, &s.stats.CreateFail, func() (*Event, error) {
		e, err := s.createLocked(nodePath, dir, value, unique, false, opts.ExpireTime, Create)
		if err != nil {
			return nil, err
		}
		e.EtcdIndex = s.index
		s.hub.notify(e)
		return e, nil
	})
}

// write runs a change under the store's lock and counts its outcome.
func (s *Store) write(action string, succeeded, failed *uint64, change func() (*Event, error)) (*Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := change()
	if err != nil {
		s.stats.inc(failed)
		metrics.write(action, false)
		return nil, err
	}
	s.stats.inc(succeeded)
	metrics.write(action, true)
	return e, nil
}

// Set creates or replaces a key (or creates a directory).
func (s *Store) Set(nodePath string, dir bool, value string, opts TTLOptions) (*Event, error) {
	return s.write(Set, &s.stats.SetSuccess, &s.stats.SetFail, func() (*Event, error) { return s.setLocked(nodePath, dir, value, opts) })
}

func (s *Store) setLocked(nodePath string, dir bool, value string, opts TTLOptions) (*Event, error) {
	nodePath = clean(nodePath)
	n, getErr := s.getLocked(nodePath)
	if getErr != nil && getErr.ErrorCode != EcodeKeyNotFound {
		return nil, getErr
	}
	if opts.Refresh {
		if getErr != nil {
			return nil, getErr
		}
		value = n.Value
	}
	e, err := s.createLocked(nodePath, dir, value, false, true, opts.ExpireTime, Set)
	if err != nil {
		return nil, err
	}
	e.EtcdIndex = s.index
	s.publish(e, opts.Refresh)
	return e, nil
}

// publish records e, telling the watchers unless it is a refresh.
func (s *Store) publish(e *Event, refresh bool) {
	if refresh {
		e.Refresh = true
		s.hub.add(e)
		return
	}
	s.hub.notify(e)
}

// Update changes an existing key's value or TTL, or a directory's TTL.
func (s *Store) Update(nodePath, value string, opts TTLOptions) (*Event, error) {
	return s.write(Update, &s.stats.UpdateSuccess, &s.stats.UpdateFail, func() (*Event, error) { return s.updateLocked(nodePath, value, opts) })
}

func (s *Store) updateLocked(nodePath, value string, opts TTLOptions) (*Event, error) {
	nodePath = clean(nodePath)
	if s.readonly[nodePath] {
		return nil, NewError(EcodeRootROnly, "/", s.index)
	}
	next := s.index + 1
	n, err := s.getLocked(nodePath)
	if err != nil {
		return nil, err
	}
	if n.isDir() && value != "" {
		return nil, NewError(EcodeNotFile, nodePath, s.index)
	}
	if opts.Refresh {
		value = n.Value
	}
	e := newEvent(Update, nodePath, next, n.CreatedIndex)
	e.EtcdIndex = next
	e.PrevNode = n.extern(false, false, s.now())
	if n.isDir() {
		// A directory's update changes its TTL alone: etcd 3.4 leaves
		// its modified index as it was.
		e.Node.Dir = true
	} else {
		n.Value, n.ModifiedIndex = value, next
		v := value
		e.Node.Value = &v
	}
	s.setTTLLocked(n, opts.ExpireTime)
	e.Node.Expiration, e.Node.TTL = n.expirationAndTTL(s.now())
	s.publish(e, opts.Refresh)
	s.index = next
	return e, nil
}

// CompareAndSwap replaces a key's value if its value and modified index
// are the given ones (an empty value and 0 match anything).
func (s *Store) CompareAndSwap(nodePath, prevValue string, prevIndex uint64, value string, opts TTLOptions) (*Event, error) {
	return s.write(CompareAndSwap, &s.stats.CompareAndSwapSuccess, &s.stats.CompareAndSwapFail, func() (*Event, error) { return s.casLocked(nodePath, prevValue, prevIndex, value, opts) })
}

func (s *Store) casLocked(nodePath, prevValue string, prevIndex uint64, value string, opts TTLOptions) (*Event, error) {
	nodePath = clean(nodePath)
	if s.readonly[nodePath] {
		return nil, NewError(EcodeRootROnly, "/", s.index)
	}
	n, err := s.getLocked(nodePath)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return nil, NewError(EcodeNotFile, nodePath, s.index)
	}
	if ok, cause := n.compare(prevValue, prevIndex); !ok {
		return nil, NewError(EcodeTestFailed, cause, s.index)
	}
	if opts.Refresh {
		value = n.Value
	}
	s.index++
	e := newEvent(CompareAndSwap, nodePath, s.index, n.CreatedIndex)
	e.EtcdIndex = s.index
	e.PrevNode = n.extern(false, false, s.now())
	n.Value, n.ModifiedIndex = value, s.index
	s.setTTLLocked(n, opts.ExpireTime)
	v := value
	e.Node.Value = &v
	e.Node.Expiration, e.Node.TTL = n.expirationAndTTL(s.now())
	s.publish(e, opts.Refresh)
	return e, nil
}

// Delete removes a key, an empty directory (dir), or a directory and all
// under it (recursive).
func (s *Store) Delete(nodePath string, dir, recursive bool) (*Event, error) {
	return s.write(Delete, &s.stats.DeleteSuccess, &s.stats.DeleteFail, func() (*Event, error) { return s.deleteLocked(nodePath, dir, recursive) })
}

func (s *Store) deleteLocked(nodePath string, dir, recursive bool) (*Event, error) {
	nodePath = clean(nodePath)
	if s.readonly[nodePath] {
		return nil, NewError(EcodeRootROnly, "/", s.index)
	}
	if recursive {
		dir = true
	}
	n, err := s.getLocked(nodePath)
	if err != nil {
		return nil, err
	}
	next := s.index + 1
	e := newEvent(Delete, nodePath, next, n.CreatedIndex)
	e.EtcdIndex = next
	e.PrevNode = n.extern(false, false, s.now())
	e.Node.Dir = n.isDir()
	if err := s.removeLocked(n, dir, recursive, e); err != nil {
		return nil, err
	}
	s.index = next
	s.hub.notify(e)
	return e, nil
}

// CompareAndDelete removes a key if its value and modified index are the
// given ones.
func (s *Store) CompareAndDelete(nodePath, prevValue string, prevIndex uint64) (*Event, error) {
	return s.write(CompareAndDelete, &s.stats.CompareAndDeleteSuccess, &s.stats.CompareAndDeleteFail, func() (*Event, error) { return s.cadLocked(nodePath, prevValue, prevIndex) })
}

func (s *Store) cadLocked(nodePath, prevValue string, prevIndex uint64) (*Event, error) {
	nodePath = clean(nodePath)
	n, err := s.getLocked(nodePath)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return nil, NewError(EcodeNotFile, nodePath, s.index)
	}
	if ok, cause := n.compare(prevValue, prevIndex); !ok {
		return nil, NewError(EcodeTestFailed, cause, s.index)
	}
	s.index++
	e := newEvent(CompareAndDelete, nodePath, s.index, n.CreatedIndex)
	e.EtcdIndex = s.index
	e.PrevNode = n.extern(false, false, s.now())
	if err := s.removeLocked(n, false, false, e); err != nil {
		return nil, err
	}
	s.hub.notify(e)
	return e, nil
}

// Watch watches a key (and all under it, recursive) from sinceIndex (0:
// from the next change). A stream watcher gets every event until
// removed; another gets one.
func (s *Store) Watch(key string, recursive, stream bool, sinceIndex uint64) (Watcher, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	key = clean(key)
	if sinceIndex == 0 {
		sinceIndex = s.index + 1
	}
	w, err := s.hub.watch(key, recursive, stream, sinceIndex, s.index)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// DeleteExpiredKeys expires every node whose expiry time is not after
// cutoff, each at an index of its own, earliest first.
func (s *Store) DeleteExpiredKeys(cutoff time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		n := s.ttls.top()
		if n == nil || n.ExpireTime.After(cutoff) {
			return
		}
		s.index++
		e := newEvent(Expire, n.Path, s.index, n.CreatedIndex)
		e.EtcdIndex = s.index
		e.PrevNode = n.extern(false, false, s.now())
		e.Node.Dir = n.isDir()
		s.ttls.remove(n)
		// Expiry removes the node and all under it, whatever it is.
		_ = s.removeLocked(n, true, true, e)
		metrics.expires.Inc()
		s.stats.inc(&s.stats.ExpireCount)
		s.hub.notify(e)
	}
}

// HasTTLKeys: some node has a TTL (the leader then proposes expiry).
func (s *Store) HasTTLKeys() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.ttls) != 0
}

// getLocked finds the node at a clean path.
func (s *Store) getLocked(nodePath string) (*node, *Error) {
	cur := s.root
	for _, name := range components(nodePath) {
		if !cur.isDir() {
			return nil, NewError(EcodeNotDir, cur.Path, s.index)
		}
		child, ok := cur.Children[name]
		if !ok {
			return nil, NewError(EcodeKeyNotFound, path.Join(cur.Path, name), s.index)
		}
		cur = child
	}
	return cur, nil
}

// createLocked adds a node, making the directories above it; with
// replace, an existing key is replaced.
func (s *Store) createLocked(nodePath string, dir bool, value string, unique, replace bool, expire time.Time, action string) (*Event, *Error) {
	cur, next := s.index, s.index+1
	if unique {
		nodePath += "/" + fmt.Sprintf("%020d", next)
	}
	nodePath = clean(nodePath)
	if s.readonly[nodePath] {
		return nil, NewError(EcodeRootROnly, "/", cur)
	}
	if expire.Before(minExpireTime) {
		expire = Permanent
	}
	dirPath, name := path.Split(nodePath)
	d, err := s.makeDirsLocked(dirPath, next)
	if err != nil {
		// etcd counts a failed walk as a failed set too, whatever the
		// action.
		s.stats.inc(&s.stats.SetFail)
		metrics.write(action, false)
		err.Index = cur
		return nil, err
	}
	e := newEvent(action, nodePath, next, next)
	if old, ok := d.Children[name]; ok {
		if !replace {
			return nil, NewError(EcodeNodeExist, nodePath, cur)
		}
		if old.isDir() {
			return nil, NewError(EcodeNotFile, nodePath, cur)
		}
		e.PrevNode = old.extern(false, false, s.now())
		_ = s.removeLocked(old, false, false, nil)
	}
	var n *node
	if dir {
		e.Node.Dir = true
		n = newDir(nodePath, next, d, expire)
	} else {
		v := value
		e.Node.Value = &v
		n = newKey(nodePath, value, next, d, expire)
	}
	d.Children[name] = n
	if !n.isPermanent() {
		s.ttls.push(n)
		e.Node.Expiration, e.Node.TTL = n.expirationAndTTL(s.now())
	}
	s.index = next
	return e, nil
}

// makeDirsLocked walks to the directory at dirPath, creating the missing
// ones at index.
func (s *Store) makeDirsLocked(dirPath string, index uint64) (*node, *Error) {
	cur := s.root
	for _, name := range components(dirPath) {
		child, ok := cur.Children[name]
		if !ok {
			child = newDir(path.Join(cur.Path, name), index, cur, Permanent)
			cur.Children[name] = child
		} else if !child.isDir() {
			return nil, NewError(EcodeNotDir, child.Path, s.index)
		}
		cur = child
	}
	return cur, nil
}

// removeLocked takes n (and, for a directory, all under it) out of the
// tree and the TTL heap, telling the watchers of each removed path of e.
func (s *Store) removeLocked(n *node, dir, recursive bool, e *Event) *Error {
	if n.isDir() {
		if !dir {
			return NewError(EcodeNotFile, n.Path, s.index)
		}
		if len(n.Children) != 0 && !recursive {
			return NewError(EcodeDirNotEmpty, n.Path, s.index)
		}
		for _, c := range n.Children {
			_ = s.removeLocked(c, true, true, e)
		}
	}
	if n.parent != nil && n.parent.Children[n.name()] == n {
		delete(n.parent.Children, n.name())
	}
	if e != nil {
		s.hub.notifyWatchers(e, n.Path, true)
	}
	s.ttls.remove(n)
	return nil
}

// setTTLLocked gives n a new expiry time (zero: none).
func (s *Store) setTTLLocked(n *node, expire time.Time) {
	n.ExpireTime = expire
	if expire.IsZero() {
		s.ttls.remove(n)
		return
	}
	s.ttls.update(n)
}

// clean makes p absolute and clean.
func clean(p string) string { return path.Clean(path.Join("/", p)) }

// components are the names along a clean path.
func components(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
