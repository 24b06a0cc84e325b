//go:build !unix

package server

import "errors"

func fdLimit() (uint64, error) {
	return 0, errors.New("the file descriptor limit is not known on this platform")
}
