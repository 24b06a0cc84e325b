package snap

import "errors"

// Errors returned by this package, wrapped with the file they concern.
var (
	// ErrNoSnapshot: no usable snapshot file (none, or all corrupt, or
	// none matching the WAL's markers).
	ErrNoSnapshot = errors.New("snap: no available snapshot")
	// ErrCorrupt: a snapshot file fails its checks.
	ErrCorrupt = errors.New("snap: corrupt snapshot file")
	// ErrNoDBSnapshot: no database snapshot file for the index.
	ErrNoDBSnapshot = errors.New("snap: database snapshot file not found")
	// ErrEmptySnapshot: SaveSnap given a snapshot without an index.
	ErrEmptySnapshot = errors.New("snap: empty snapshot")
)
