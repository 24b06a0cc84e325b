package main

import (
	"fmt"
	"strconv"
)

// scale sizes a comparison run.
type scale struct {
	name string
	// one and many are the request totals of the 1-client and the
	// 1,000-client runs.
	one, many int
	// txnPut, lease are the totals of txn-put and lease-keepalive.
	txnPut, lease int
	// watchPuts is the number of puts watch-latency's watchers see.
	watchPuts int
	// rssKeys is the number of keys written before reading RSS and
	// restarting.
	rssKeys int
	// rounds is how often each workload runs on each server (A B A B).
	rounds int
}

var scales = map[string]scale{
	"smoke":  {name: "smoke", one: 150, many: 2000, txnPut: 1000, lease: 1000, watchPuts: 10, rssKeys: 20000, rounds: 2},
	"medium": {name: "medium", one: 2000, many: 30000, txnPut: 10000, lease: 20000, watchPuts: 300, rssKeys: 100000, rounds: 3},
	"full":   {name: "full", one: 10000, many: 200000, txnPut: 100000, lease: 100000, watchPuts: 1000, rssKeys: 1000000, rounds: 3},
}

// workload is one basalt-bench invocation, minus --endpoints.
type workload struct {
	name string
	args []string
	// summary picks the summary the table reports (watch-latency prints
	// the put summary first, then the watch events').
	summary int
	// leader sends the connection to the leader (1-client runs, so that
	// both servers serve from the same role).
	leader bool
}

const (
	keySize = "8"
	valSize = "256"
	// keySpace spreads the put workloads over this many distinct keys.
	keySpace = "100000"
	// rangeKey is read by the range workloads; the comparison writes it
	// first.
	rangeKey = "foo"
)

func clients(n int) []string {
	conns := min(n, 100)
	return []string{"--clients", strconv.Itoa(n), "--conns", strconv.Itoa(conns)}
}

func total(n int) string { return strconv.Itoa(n) }

// workloads are the comparison's benchmarks at scale s.
func workloads(s scale) []workload {
	put := func(n, cl int) workload {
		return workload{
			name: fmt.Sprintf("put, %s client(s)", thousands(cl)),
			args: append(clients(cl), "put", "--key-size", keySize, "--val-size", valSize,
				"--total", total(n), "--key-space-size", keySpace, "--sequential-keys"),
			leader: cl == 1,
		}
	}
	rng := func(consistency string, n, cl int) workload {
		kind := map[string]string{"l": "linearizable", "s": "serializable"}[consistency]
		return workload{
			name:   fmt.Sprintf("range %s, %s client(s)", kind, thousands(cl)),
			args:   append(clients(cl), "range", rangeKey, "--consistency", consistency, "--total", total(n)),
			leader: cl == 1,
		}
	}
	return []workload{
		put(s.one, 1),
		put(s.many, 1000),
		rng("l", s.one, 1),
		rng("l", s.many, 1000),
		rng("s", s.one, 1),
		rng("s", s.many, 1000),
		{
			name: "txn-put, 100 clients",
			args: append(clients(100), "txn-put", "--key-size", keySize, "--val-size", valSize,
				"--total", total(s.txnPut), "--key-space-size", keySpace),
		},
		{
			name: "watch-latency, 1,000 watchers",
			args: append(clients(100), "watch-latency", "--streams", "100", "--watchers-per-stream", "10",
				"--put-total", total(s.watchPuts), "--put-rate", "100", "--key-size", keySize, "--val-size", valSize),
			summary: 1,
		},
		{
			name: "lease keep-alive, 100 clients",
			args: append(clients(100), "lease-keepalive", "--total", total(s.lease)),
		},
	}
}

// v2Workloads are the v2 keys API's benchmarks (-v2): sets of 256-byte
// values and reads, plain (served locally) and quorum (through raft).
func v2Workloads(s scale) []workload {
	set := func(n, cl int) workload {
		return workload{
			name: fmt.Sprintf("v2 set, %s client(s)", thousands(cl)),
			args: append(clients(cl), "v2-put", "--key-size", keySize, "--val-size", valSize,
				"--total", total(n), "--key-space-size", keySpace, "--sequential-keys"),
			leader: cl == 1,
		}
	}
	get := func(quorum bool, n, cl int) workload {
		kind, args := "plain", []string{}
		if quorum {
			kind, args = "quorum", []string{"--quorum"}
		}
		return workload{
			name: fmt.Sprintf("v2 get %s, %s client(s)", kind, thousands(cl)),
			args: append(append(clients(cl), "v2-get", "--key-size", keySize, "--total", total(n),
				"--key-space-size", keySpace, "--sequential-keys"), args...),
			leader: cl == 1,
		}
	}
	return []workload{
		set(s.one, 1),
		set(s.many/2, 100),
		get(false, s.many/2, 100),
		get(true, s.many/2, 100),
	}
}

// rssLoad writes n distinct keys with 1,000 clients.
func rssLoad(n int) workload {
	return workload{
		name: "rss load",
		args: append(clients(1000), "put", "--key-size", keySize, "--val-size", valSize,
			"--total", total(n), "--key-space-size", total(n), "--sequential-keys"),
	}
}

// thousands prints n with comma separators: 1000000 → "1,000,000".
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
