package rafthttp

import "errors"

// Errors of the transport. The texts of the first three are what a
// receiver writes in the body of a refusal, and what a sender matches.
var (
	// ErrClusterIDMismatch: the peer belongs to another cluster.
	ErrClusterIDMismatch = errors.New("cluster ID mismatch")
	// ErrMemberRemoved: the peer says this member was removed from the
	// cluster.
	ErrMemberRemoved = errors.New("the member has been permanently removed from the cluster")
	// errToMismatch: the peer URL reached a member other than the one meant.
	errToMismatch = errors.New("to field mismatch")

	errSenderNotFound   = errors.New("error sender not found")
	errStopped          = errors.New("transport stopped")
	errURLChanged       = errors.New("peer URLs changed")
	errNoURL            = errors.New("peer has no usable URL")
	errEmptyMessage     = errors.New("message marshals to nothing")
	errFrameTooLarge    = errors.New("frame too large")
	errChecksumMismatch = errors.New("database checksum mismatch")
	errShortDatabase    = errors.New("database shorter than announced")
	errNotMsgSnap       = errors.New("not a MsgSnap")
)
