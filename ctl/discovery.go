package ctl

import "time"

// srvLookupTimeout bounds --discovery-srv's lookups (netutil's
// SRVClientEndpoints); the resolver's own timeouts apply within it.
const srvLookupTimeout = 30 * time.Second
