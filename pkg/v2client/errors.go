package v2client

import (
	"errors"
	"fmt"
)

// Keys API error codes (etcd's v2 error package).
const (
	ErrorCodeKeyNotFound     = 100
	ErrorCodeTestFailed      = 101
	ErrorCodeNotFile         = 102
	ErrorCodeNotDir          = 104
	ErrorCodeNodeExist       = 105
	ErrorCodeKeyIsPreserved  = 106
	ErrorCodeRootROnly       = 107
	ErrorCodeDirNotEmpty     = 108
	ErrorCodeUnauthorized    = 110
	ErrorCodeValueRequired   = 200
	ErrorCodePrevValueReq    = 201
	ErrorCodeTTLNaN          = 202
	ErrorCodeIndexNaN        = 203
	ErrorCodeValueOrTTLReq   = 204
	ErrorCodeTimeoutNaN      = 205
	ErrorCodeNameRequired    = 206
	ErrorCodeIndexOrValueReq = 207
	ErrorCodeIndexValueMutex = 208
	ErrorCodeInvalidField    = 209
	ErrorCodeInvalidForm     = 210
	ErrorCodeRefreshValue    = 211
	ErrorCodeRefreshTTLReq   = 212
	ErrorCodeRaftInternal    = 300
	ErrorCodeLeaderElect     = 301
	ErrorCodeWatcherCleared  = 400
	ErrorCodeEventIndexClear = 401
)

// Sentinel errors, worded as etcd's client words them.
var (
	ErrNoEndpoints        = errors.New("client: no endpoints available")
	ErrClusterUnavailable = errors.New("client: etcd cluster is unavailable or misconfigured")
	ErrInvalidJSON        = errors.New("client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint")
	ErrEmptyBody          = errors.New("client: response body is empty")
	ErrTooManyRedirects   = errors.New("client: too many redirect checks")
)

// Error is a keys API failure as the server reports it.
type Error struct {
	Code    int    `json:"errorCode"`
	Message string `json:"message"`
	Cause   string `json:"cause"`
	Index   uint64 `json:"index"`
}

// Error reads as etcd's client prints it: "100: Key not found (/foo) [12]".
func (e *Error) Error() string {
	return fmt.Sprintf("%v: %v (%v) [%v]", e.Code, e.Message, e.Cause, e.Index)
}

// ClusterError is the failure of every endpoint a request was tried on,
// in the order they were tried.
type ClusterError struct {
	Errors []error
}

// Error is etcd's wording: the sentinel, then each failure on its own
// line ("; error #0: ...\n").
func (e *ClusterError) Error() string {
	s := ErrClusterUnavailable.Error()
	for i, err := range e.Errors {
		s += fmt.Sprintf("; error #%d: %s\n", i, err)
	}
	return s
}

// Detail lists the failures one a line, as etcdctl prints them after the
// error.
func (e *ClusterError) Detail() string {
	s := ""
	for i, err := range e.Errors {
		s += fmt.Sprintf("error #%d: %s\n", i, err)
	}
	return s
}

// Is makes errors.Is(err, ErrClusterUnavailable) true.
func (e *ClusterError) Is(target error) bool { return target == ErrClusterUnavailable }

// StatusError is a membership or auth request answered with a status the
// call does not expect. Message is the server's message, when its body
// carried one.
type StatusError struct {
	StatusCode int
	Message    string
}

func (e *StatusError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("unexpected status code %d", e.StatusCode)
}
