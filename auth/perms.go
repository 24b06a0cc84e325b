package auth

import (
	"bytes"
	"slices"

	"go.etcd.io/etcd/api/v3/authpb"
)

// interval is the keys from start up to end, excluded; a nil end is
// unbounded.
type interval struct {
	start, end []byte
}

// endLess compares ends, nil (unbounded) last.
func endLess(a, b []byte) bool {
	switch {
	case a == nil:
		return false
	case b == nil:
		return true
	}
	return bytes.Compare(a, b) < 0
}

// coverage is a union of intervals, merged and sorted: what one user may
// read, or write.
type coverage []interval

// cover merges the intervals into a coverage.
func cover(ivls []interval) coverage {
	slices.SortFunc(ivls, func(a, b interval) int { return bytes.Compare(a.start, b.start) })
	var out coverage
	for _, iv := range ivls {
		if n := len(out); n > 0 {
			last := &out[n-1]
			// Touching or overlapping: [a,b) and [b,c) cover [a,c).
			if last.end == nil || bytes.Compare(iv.start, last.end) <= 0 {
				if endLess(last.end, iv.end) {
					last.end = iv.end
				}
				continue
			}
		}
		out = append(out, iv)
	}
	return out
}

// contains reports whether the coverage holds every key of [start, end)
// (end nil: every key from start).
func (c coverage) contains(start, end []byte) bool {
	// The last interval starting at or before start is the only one that
	// can hold it, the intervals being disjoint and not touching.
	i, found := slices.BinarySearchFunc(c, start, func(iv interval, k []byte) int { return bytes.Compare(iv.start, k) })
	if !found {
		i--
	}
	if i < 0 {
		return false
	}
	iv := c[i]
	if iv.end != nil && bytes.Compare(start, iv.end) >= 0 {
		return false
	}
	return !endLess(iv.end, end)
}

// containsKey reports whether the coverage holds key: contains(key,
// key+"\x00") without building the end.
func (c coverage) containsKey(key []byte) bool {
	i, found := slices.BinarySearchFunc(c, key, func(iv interval, k []byte) int { return bytes.Compare(iv.start, k) })
	if !found {
		i--
	}
	return i >= 0 && (c[i].end == nil || bytes.Compare(key, c[i].end) < 0)
}

// permissions are one user's merged permissions.
type permissions struct {
	read, write coverage
}

// permissionInterval is the keys a permission names: one key (no range
// end), a range, or every key from its key (range end "\x00").
func permissionInterval(p *authpb.Permission) interval {
	switch {
	case len(p.RangeEnd) == 0:
		return interval{start: p.Key, end: append(slices.Clip(p.Key), 0)}
	case isOpenEnded(p.RangeEnd):
		return interval{start: p.Key}
	}
	return interval{start: p.Key, end: p.RangeEnd}
}

func isOpenEnded(end []byte) bool { return len(end) == 1 && end[0] == 0 }

// validPermissionRange is etcd's rule for a permission's keys: a key, and
// no range end, a greater range end, or "\x00".
func validPermissionRange(key, end []byte) bool {
	if len(key) == 0 {
		return false
	}
	return len(end) == 0 || bytes.Compare(key, end) < 0 || isOpenEnded(end)
}

// mergePermissions is what the roles grant together.
func mergePermissions(roles []*authpb.Role) *permissions {
	var read, write []interval
	for _, r := range roles {
		for _, p := range r.KeyPermission {
			iv := permissionInterval(p)
			switch p.PermType {
			case authpb.READ:
				read = append(read, iv)
			case authpb.WRITE:
				write = append(write, iv)
			case authpb.READWRITE:
				read = append(read, iv)
				write = append(write, iv)
			}
		}
	}
	return &permissions{read: cover(read), write: cover(write)}
}

// allows reports whether the permissions allow typ on key (end empty),
// the range [key, end), or every key from key (end "\x00").
func (p *permissions) allows(typ authpb.Permission_Type, key, end []byte) bool {
	c := p.read
	if typ == authpb.WRITE {
		c = p.write
	}
	switch {
	case len(end) == 0:
		return c.containsKey(key)
	case isOpenEnded(end):
		return c.contains(key, nil)
	}
	return c.contains(key, end)
}
