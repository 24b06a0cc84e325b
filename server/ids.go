package server

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Member and cluster IDs are derived as etcd derives them, so that every
// member of a new cluster computes the same IDs from the same
// --initial-cluster and token without talking, and a basalt cluster has
// the IDs an etcd cluster would have for the same flags.

// memberIDFor is the ID of a member with the given peer URLs in the
// cluster named by token; now is set only for members added at runtime.
func memberIDFor(peerURLs []string, token string, now *time.Time) uint64 {
	urls := slices.Clone(peerURLs)
	slices.Sort(urls)
	b := []byte(strings.Join(urls, ""))
	b = append(b, token...)
	if now != nil {
		b = append(b, strconv.FormatInt(now.Unix(), 10)...)
	}
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// clusterIDFor is the cluster ID of the given members.
func clusterIDFor(memberIDs []uint64) uint64 {
	ids := slices.Clone(memberIDs)
	slices.Sort(ids)
	b := make([]byte, 8*len(ids))
	for i, id := range ids {
		binary.BigEndian.PutUint64(b[8*i:], id)
	}
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// idString formats an ID as etcd does: hex without padding.
func idString(id uint64) string { return strconv.FormatUint(id, 16) }

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

func formatID(id uint64) string { return fmt.Sprintf("%016x", id) }
