// Package e2e runs real basalt processes on 127.0.0.1 and talks to them
// as users do: through clientv3 and plain HTTP.
//
// The harness is meant for every end-to-end test:
//
//	func TestMain(m *testing.M) { os.Exit(e2e.RunWithBinary(m)) }
//
//	c := e2e.NewCluster(t, 3, &e2e.Options{ClientTLS: e2e.MutualTLS})
//	cli := c.Client(t)                 // clientv3 over all members
//	m := c.Members[0]
//	m.Kill()                           // SIGKILL
//	m.Restart(t)                       // same flags and data, waits until ready
//	code := m.Stop(t)                  // SIGTERM, returns the exit status
//
// Ports are chosen by the OS (never fixed); a cluster whose ports were
// taken in between is started again on new ones. Readiness is the
// member's own log line "ready to serve client requests", waited for on
// the process output as it arrives, never by sleeping. On a failed test
// each member's output is logged.
package e2e
