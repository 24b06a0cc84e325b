package server

import (
	"sync/atomic"
	"time"

	"github.com/basaltkv/basalt/server/membership"
)

// idString formats an ID as etcd does: hex without padding.
func idString(id uint64) string { return membership.IDString(id) }

// reqIDGen makes request IDs unique across the cluster and across
// restarts: the member ID's low 16 bits, then the start time in ms, then
// a counter.
type reqIDGen struct {
	prefix uint64
	suffix atomic.Uint64
}

const (
	tsLen     = 5 * 8
	cntLen    = 8
	suffixLen = tsLen + cntLen
)

func newReqIDGen(memberID uint64, now time.Time) *reqIDGen {
	g := &reqIDGen{prefix: memberID << suffixLen}
	unixMilli := uint64(now.UnixNano()) / uint64(time.Millisecond/time.Nanosecond)
	g.suffix.Store((unixMilli << cntLen) & (1<<suffixLen - 1))
	return g
}

func (g *reqIDGen) next() uint64 {
	s := g.suffix.Add(1) & (1<<suffixLen - 1)
	return g.prefix | s
}
