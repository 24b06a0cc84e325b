package server

import (
	"github.com/basaltkv/basalt/auth"
	"github.com/basaltkv/basalt/lease"
	"github.com/basaltkv/basalt/server/membership"
	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/mvcc"
	"go.uber.org/zap"

	"github.com/basaltkv/basalt/storage/v2store"
)

// state is the member's replicated state machine: the backend and what is
// built from it. It is the handle readers use; the applier is the only
// code that changes its replicated contents.
//
// Every object in it lives as long as the member, so a reader takes the
// handle's fields once and never finds one closed. When the applier
// installs a snapshot from the leader, each replaces its own contents
// atomically for its readers: the backend swaps its file under its locks
// (backend.ReplaceWith), the key-value store holds its readers off until
// its index is rebuilt (mvcc.Store.Restore), and the lessor, alarms and
// membership swap their maps under their locks. A reader that looks at
// two of them (a Status, say) may see one before and one after an
// installation; each one is always whole.
type state struct {
	be      *backend.Backend
	kv      *mvcc.Store
	lessor  *lease.Lessor
	alarms  *alarmStore
	cluster *membership.Cluster
	auth    *auth.Store
	// v2 is the v2 API's key space (see v2_server.go), kept in raft
	// snapshots rather than the backend.
	v2 *v2store.Store
}

// close stops the state's goroutines and closes the backend, last.
func (st *state) close(lg *zap.Logger) {
	if st.lessor != nil {
		st.lessor.Stop()
	}
	if st.kv != nil {
		st.kv.Close()
	}
	if st.be != nil {
		if err := st.be.Close(); err != nil {
			lg.Warn("failed to close backend", zap.Error(err))
		}
	}
}
