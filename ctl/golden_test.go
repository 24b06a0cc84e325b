package ctl_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/basaltkv/basalt/tests/e2e"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

func decodeAs[T any, PT interface {
	*T
	proto.Message
}]() func([]byte) (any, error) {
	return func(b []byte) (any, error) {
		m := PT(new(T))
		return m, proto.Unmarshal(b, m)
	}
}

func a(args ...string) []string { return args }

// formats are the --write-out values every response is shown in.
var formats = []string{"simple", "json", "fields", "protobuf", "table"}

// inEveryFormat is args once per output format; protobuf output is decoded
// as msg.
func inEveryFormat(decode func([]byte) (any, error), args ...string) []step {
	var steps []step
	for _, f := range formats {
		s := step{args: append(append([]string(nil), args...), "-w", f)}
		if f == "protobuf" {
			s.decode = decode
		}
		steps = append(steps, s)
	}
	return steps
}

func concat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// goldenScenarios are command sequences run on a fresh one-member cluster;
// each has its transcript in testdata/<name>.golden.
var goldenScenarios = []struct {
	name  string
	steps []step
}{
	{"kv", concat(
		[]step{
			{args: a("put", "foo", "bar")},
			{args: a("put", "foo1", "bar1")},
			{args: a("put", "foo2", "bar2")},
			{args: a("put", "zoo", "val")},
			{args: a("put", "stdin-key"), stdin: "from stdin\n"},
			{args: a("put", "--", "dash", "-value")},
		},
		inEveryFormat(decodeAs[pb.PutResponse](), "put", "foo", "bar-new", "--prev-kv"),
		inEveryFormat(decodeAs[pb.RangeResponse](), "get", "foo", "--prefix"),
		inEveryFormat(decodeAs[pb.RangeResponse](), "get", "foo", "foo2"),
		inEveryFormat(decodeAs[pb.RangeResponse](), "get", "nokey"),
		[]step{
			{args: a("get", "", "--prefix", "--keys-only")},
			{args: a("get", "", "--from-key", "--limit", "2")},
			{args: a("get", "foo", "--from-key", "--print-value-only")},
			{args: a("get", "foo", "--prefix", "--order", "DESCEND", "--sort-by", "VALUE")},
			{args: a("get", "foo", "--prefix", "--sort-by", "MODIFY", "--order", "descend")},
			{args: a("get", "foo", "--prefix", "--sort-by", "CREATE")},
			{args: a("get", "foo", "--prefix", "--sort-by", "VERSION", "--order", "ASCEND")},
			{args: a("get", "foo", "--rev", "2")},
			{args: a("get", "foo", "--prefix", "--count-only", "-w", "fields")},
			{args: a("get", "", "--prefix", "--min-create-rev", "3", "--max-create-rev", "4")},
			{args: a("get", "", "--prefix", "--min-mod-rev", "5", "--max-mod-rev", "7")},
			{args: a("get", "foo", "--consistency", "s")},
			{args: a("get", "foo", "--hex")},
			{args: a("get", "foo", "--hex", "-w", "fields")},
			{args: a("put", "foo", "--ignore-value", "--prev-kv")},
			// Errors.
			{args: a("get")},
			{args: a("get", "foo", "--prefix", "--from-key")},
			{args: a("get", "foo", "bar", "--prefix")},
			{args: a("get", "foo", "--keys-only", "--count-only")},
			{args: a("get", "foo", "--count-only")},
			{args: a("get", "foo", "--print-value-only", "-w", "json")},
			{args: a("get", "foo", "--consistency", "x")},
			{args: a("get", "foo", "--order", "up")},
			{args: a("get", "foo", "--sort-by", "size")},
			{args: a("get", "foo", "--min-mod-rev", "5", "--max-mod-rev", "2")},
			{args: a("get", "foo", "--rev", "1000")},
			{args: a("get", "foo", "-w", "yaml")},
			{args: a("get", "foo", "--no-such-flag")},
			{args: a("put")},
			{args: a("put", "k")},
			{args: a("put", "k", "v", "--ignore-value")},
			{args: a("put", "k", "v", "--lease", "xyz")},
			{args: a("put", "k", "v", "--lease", "123")},
			{args: a("del")},
			{args: a("del", "a", "b", "c")},
			{args: a("del", "a", "--prefix", "--from-key")},
			{args: a("del", "a", "b", "--prefix")},
			{args: a("no-such-command")},
		},
		inEveryFormat(decodeAs[pb.DeleteRangeResponse](), "del", "nokey"),
		[]step{
			{args: a("del", "foo1", "--prev-kv")},
			{args: a("del", "foo", "--prefix", "--prev-kv", "-w", "json")},
			{args: a("del", "a", "stdin-key", "--range", "-w", "fields")},
			{args: a("del", "", "--from-key")},
			{args: a("get", "", "--prefix")},
		},
	)},
	{"txn", []step{
		{args: a("put", "key1", "v1")},
		{args: a("txn"), stdin: "mod(\"key1\") > \"0\"\n\nput key1 \"overwrote key1\"\nget key1\ndel nokey\n\nput key1 created\n\n"},
		{args: a("txn", "-i"), stdin: "value(\"key1\") = \"nope\"\nver(\"key1\") = \"2\"\n\nput key2 x\n\nput key2 'from else'\nget key --prefix\n\n"},
		{args: a("txn", "-w", "json"), stdin: "c(\"key1\") < \"100\"\n\nget key1 --keys-only\nput key3 v3 --prev-kv\n\ndel key1\n\n"},
		{args: a("txn", "-w", "fields"), stdin: "lease(\"key1\") = \"0\"\nversion(\"key2\") > \"0\"\n\nget key1\ndel key2 --prev-kv\n\n\n"},
		{args: a("txn", "-w", "protobuf"), stdin: "\nput key4 v4\n\n\n", decode: decodeAs[pb.TxnResponse]()},
		{args: a("txn", "-w", "table"), stdin: "\n\n\n"},
		// Errors.
		{args: a("txn", "extra")},
		{args: a("txn"), stdin: "mod(\"key1\") > \"0\"\n"},
		{args: a("txn"), stdin: "mod(\"key1\" > \"0\"\n\n\n\n"},
		{args: a("txn"), stdin: "size(\"key1\") > \"0\"\n\n\n\n"},
		{args: a("txn"), stdin: "ver(\"key1\") > \"x\"\n\n\n\n"},
		{args: a("txn"), stdin: "\nputt a b\n\n\n"},
		{args: a("txn"), stdin: "\nput\n\n\n"},
		{args: a("txn"), stdin: "\nput --foo a b\n\n\n"},
		{args: a("txn"), stdin: "\nget \"a\\q\"\n\n\n"},
		{args: a("get", "key", "--prefix")},
	}},
	{"lease", concat(
		[]step{
			{args: a("lease", "grant", "1000"), after: leaseFrom("LEASE1")},
			{args: a("lease", "grant", "2000", "-w", "json"), norm: [][2]string{{`"ID":\d+`, `"ID":<LEASE2>`}}},
			{args: a("lease", "grant", "3000", "-w", "fields"), norm: [][2]string{{`"ID" : \d+`, `"ID" : <LEASE3>`}}},
			// A lease response is no protobuf message, but it embeds its
			// header, which is: only the header is written.
			{args: a("lease", "grant", "4000", "-w", "protobuf"), decode: decodeAs[pb.ResponseHeader]()},
			{args: a("lease", "grant", "4000", "-w", "table")},
			{args: a("put", "lk1", "v", "--lease", "$LEASE1")},
		},
		// TimeToLive's remaining TTL ticks down: normalise it.
		[]step{
			{args: a("lease", "timetolive", "$LEASE1"), norm: ttlNorm},
			{args: a("lease", "timetolive", "$LEASE1", "--keys"), norm: ttlNorm},
			{args: a("lease", "timetolive", "$LEASE1", "--keys", "-w", "fields"), norm: ttlNorm},
			{args: a("lease", "timetolive", "$LEASE1", "--keys", "-w", "fields", "--hex"), norm: ttlNorm},
			{args: a("lease", "timetolive", "$LEASE1", "-w", "json"), norm: ttlNorm},
			{args: a("lease", "keep-alive", "--once", "$LEASE1")},
			{args: a("lease", "keep-alive", "--once", "$LEASE1", "-w", "fields")},
			{args: a("lease", "keep-alive", "--once", "$LEASE1", "-w", "json")},
			{args: a("get", "lk1", "-w", "fields")},
			{args: a("lease", "revoke", "$LEASE1")},
			{args: a("lease", "timetolive", "$LEASE1")},
			{args: a("get", "lk1")},
			{args: a("lease", "revoke", "$LEASE1")},
			{args: a("lease", "keep-alive", "--once", "$LEASE1")},
			{args: a("lease", "grant")},
			{args: a("lease", "grant", "ten")},
			{args: a("lease", "revoke")},
			{args: a("lease", "revoke", "xyz")},
			{args: a("lease", "timetolive")},
			{args: a("lease", "keep-alive")},
		},
	)},
	{"cluster", concat(
		inEveryFormat(decodeAs[pb.MemberListResponse](), "member", "list"),
		[]step{
			{args: a("member", "list", "--consistency", "s")},
			{args: a("member", "list", "-w", "json", "--hex")},
			{args: a("member", "list", "-w", "fields", "--hex")},
			{args: a("member", "list", "--consistency", "z")},
		},
		inEveryFormat(nil, "endpoint", "health"),
		[]step{{args: a("endpoint", "health", "--cluster")}},
		[]step{
			{args: a("endpoint", "status"), norm: statusNorm},
			{args: a("endpoint", "status", "-w", "json"), norm: statusNorm},
			{args: a("endpoint", "status", "-w", "fields"), norm: statusNorm},
			{args: a("endpoint", "status", "-w", "protobuf")},
			{args: a("endpoint", "status", "-w", "table"), norm: statusNorm},
			{args: a("endpoint", "status", "--cluster"), norm: statusNorm},
			{args: a("put", "k", "v")},
			{args: a("endpoint", "hashkv"), norm: hashNorm},
			{args: a("endpoint", "hashkv", "--rev", "2", "-w", "json"), norm: hashNorm},
			{args: a("endpoint", "hashkv", "-w", "fields", "--cluster"), norm: hashNorm},
			{args: a("endpoint", "hashkv", "-w", "table"), norm: hashNorm},
		},
		inEveryFormat(decodeAs[pb.AlarmResponse](), "alarm", "list"),
		[]step{
			{args: a("alarm", "disarm")},
			{args: a("alarm", "list", "extra")},
			{args: a("put", "k", "v2")},
			{args: a("compaction", "3")},
			{args: a("compaction", "3")},
			{args: a("put", "k", "v3")},
			{args: a("compaction", "--physical", "4")},
			{args: a("compaction", "1000")},
			{args: a("compaction")},
			{args: a("compaction", "x")},
			{args: a("get", "k", "--rev", "2")},
			{args: a("defrag")},
			{args: a("defrag", "--cluster")},
			{args: a("move-leader")},
			{args: a("move-leader", "xyz")},
			{args: a("version")},
		},
	)},
}

var (
	ttlNorm = [][2]string{
		{`remaining\(\d+s\)`, `remaining(<TTL>s)`},
		{`"TTL" : \d+`, `"TTL" : <TTL>`},
		{`"ttl":\d+`, `"ttl":<TTL>`},
	}
	statusNorm = [][2]string{
		{`, \d+(\.\d)? [kMG]?B, \d+(\.\d)? [kMG]?B, \d+%, `, `, <DBSIZE>, <INUSE>, <PCT>, `},
		{`(true|false), (true|false), \d+, \d+, \d+, `, `$1, $2, <TERM>, <INDEX>, <APPLIED>, `},
		{`"(dbSize|dbSizeInUse|raftIndex|raftAppliedIndex|revision)":\d+`, `"$1":<N>`},
		{`"(DBSize|DBSizeInUse|RaftIndex|RaftAppliedIndex|Revision)" : \d+`, `"$1" : <N>`},
		{`│ +\d+(\.\d)? [kMG]?B │ +\d+(\.\d)? [kMG]?B │ +\d+% │`, `│ <DBSIZE> │ <INUSE> │ <PCT> │`},
		{`│ +(true|false) │ +(true|false) │ +\d+ │ +\d+ │ +\d+ │`, `│ $1 │ $2 │ <TERM> │ <INDEX> │ <APPLIED> │`},
	}
	hashNorm = [][2]string{
		{`, \d+, `, `, <HASH>, `},
		{`"hash":\d+`, `"hash":<HASH>`},
		{`"Hash" : \d+`, `"Hash" : <HASH>`},
		{`│ +\d+ │`, `│ <HASH> │`},
	}
)

func TestGolden(t *testing.T) {
	for _, sc := range goldenScenarios {
		t.Run(sc.name, func(t *testing.T) {
			_, ep, n := newCluster(t, 1, nil)
			checkGolden(t, sc.name, transcript(t, ep, n, sc.steps))
		})
	}
}

// TestSnapshotSave saves a snapshot, checks the file and the messages.
func TestSnapshotSave(t *testing.T) {
	_, ep, n := newCluster(t, 1, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.db")
	n.addLiteral(dir, "<DIR>")
	got := transcript(t, ep, n, []step{
		{args: a("put", "k", "v")},
		{args: a("snapshot", "save", path)},
		{args: a("snapshot", "save")},
		{args: a("snapshot", "save", filepath.Join(dir, "no-such-dir", "x.db"))},
	})
	checkGolden(t, "snapshot", got)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("snapshot file: %v", err)
	}
	if st.Size() == 0 {
		t.Fatalf("snapshot file is empty")
	}
}

// TestClientTLS reaches a TLS member with --cacert, --cert and --key, and
// from ETCDCTL_* variables.
func TestClientTLS(t *testing.T) {
	c, ep, n := newCluster(t, 1, &e2e.Options{ClientTLS: e2e.MutualTLS})
	certs := c.Certs
	n.addLiteral(filepath.Dir(certs.CA.CertFile), "<CERTS>")
	n.addLiteral(filepath.Dir(certs.Client.CertFile), "<CERTS>")
	got := transcript(t, ep, n, []step{
		{args: a("--cacert", certs.CA.CertFile, "--cert", certs.Client.CertFile, "--key", certs.Client.KeyFile, "put", "k", "v")},
		{args: a("get", "k"), env: []string{
			"ETCDCTL_CACERT=" + certs.CA.CertFile, "ETCDCTL_CERT=" + certs.Client.CertFile, "ETCDCTL_KEY=" + certs.Client.KeyFile,
		}},
		{args: a("--cacert", "", "get", "k")},
		{args: a("--cert", "", "get", "k")},
	})
	checkGolden(t, "tls", got)
}
