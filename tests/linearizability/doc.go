// Package linearizability checks basalt under faults with real processes:
// concurrent clientv3 clients drive puts, linearizable reads, deletes,
// compare-and-swap and multi-key transactions, leases and watches against
// 1-, 3- and 5-member clusters while a seeded schedule kills, pauses,
// partitions (through a TCP proxy in front of each peer listener), moves
// the leader, and restarts members on a slow or failing disk (the server's
// BASALT_TEST_FSYNC_DELAY and BASALT_TEST_FSYNC_FAIL_AFTER hooks). The recorded history is checked with porcupine against
// a revision-aware model of etcd's KV; watches are checked for complete,
// ordered, gap-free delivery; every acknowledged write must survive.
//
// Environment:
//
//	BASALT_LIN_SCENARIOS  "all" runs every scenario (default: the short CI set)
//	BASALT_LIN_DURATION   traffic time per scenario, e.g. "2m" (default 12s)
//	BASALT_LIN_SEED       the seed of every scenario's fault schedule and traffic
//	BASALT_LIN_ARTIFACTS  where failing runs keep their history, logs and seed
//	BASALT_LIN_KEEP       keep the artifacts of passing runs too
//
// A failing run prints the folder with its artifacts and the seed. The
// seed replays the fault schedule and each client's choice of operations;
// real processes do not replay their timing, so a replay is likely, not
// certain, to fail the same way.
package linearizability
