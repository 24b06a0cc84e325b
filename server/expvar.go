package server

import (
	"expvar"
	"sync"

	"github.com/basaltkv/basalt/raft"
)

var publishVarsOnce sync.Once

// publishVars publishes etcd's expvars (served at /debug/vars):
// "raft.status", the raft status of the most recently registered member
// (null before one), and "file_descriptor_limit". expvar's own
// "cmdline" and "memstats" come with the package.
func publishVars() {
	publishVarsOnce.Do(func() {
		expvar.Publish("raft.status", expvar.Func(func() any {
			currentMu.RLock()
			m := currentMember
			currentMu.RUnlock()
			if m == nil {
				return nil
			}
			return m.raftStatus()
		}))
		expvar.Publish("file_descriptor_limit", expvar.Func(func() any {
			limit, err := fdLimit()
			if err != nil {
				return 0
			}
			return limit
		}))
	})
}

// raftStatus is the member's raft status (empty once it has stopped).
func (m *Member) raftStatus() raft.Status { return m.raft.node.Status() }
