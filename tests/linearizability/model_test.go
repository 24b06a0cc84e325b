package linearizability

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// h builds a history from (client, call, return, input, output) rows;
// a return of -1 means unknown outcome.
type row struct {
	client    int
	call, ret int64
	in        input
	out       output
}

func hist(rows ...row) []porcupine.Operation {
	var ops []porcupine.Operation
	for _, r := range rows {
		ops = append(ops, porcupine.Operation{ClientId: r.client, Input: r.in, Call: r.call, Output: r.out, Return: r.ret})
	}
	return closeHistory(ops)
}

func putIn(k int, v string) input { return input{Kind: opPut, Keys: []int{k}, Values: []string{v}} }
func getIn(k int) input           { return input{Kind: opGet, Keys: []int{k}} }
func getOut(rev int64, kv kvState) output {
	return output{Rev: rev, KVs: []kvState{kv}}
}
func val(v string, mod, create, ver int64) kvState {
	return kvState{Value: v, ModRev: mod, Create: create, Version: ver}
}

var unknown = output{Unknown: true}

func check(t *testing.T, ops []porcupine.Operation) porcupine.CheckResult {
	t.Helper()
	return porcupine.CheckOperationsTimeout(kvModel, ops, 10*time.Second)
}

func TestModelAcceptsLinearizableHistories(t *testing.T) {
	for name, ops := range map[string][]porcupine.Operation{
		"sequential put get": hist(
			row{0, 0, 1, putIn(0, "a"), output{Rev: 2}},
			row{0, 2, 3, getIn(0), getOut(2, val("a", 2, 2, 1))},
			row{0, 4, 5, putIn(0, "b"), output{Rev: 3}},
			row{0, 6, 7, getIn(0), getOut(3, val("b", 3, 2, 2))},
		),
		"concurrent read sees old or new": hist(
			row{0, 0, 10, putIn(0, "a"), output{Rev: 2}},
			row{1, 1, 2, getIn(0), getOut(1, kvState{})},
			row{2, 3, 4, getIn(0), getOut(2, val("a", 2, 2, 1))},
		),
		"unknown put applied": hist(
			row{0, 0, -1, putIn(0, "a"), unknown},
			row{1, 5, 6, getIn(0), getOut(2, val("a", 2, 2, 1))},
		),
		"unknown put never applied": hist(
			row{0, 0, -1, putIn(0, "a"), unknown},
			row{1, 5, 6, getIn(0), getOut(1, kvState{})},
			row{1, 7, 8, putIn(1, "b"), output{Rev: 2}},
		),
		"cas and multi-key txn": hist(
			row{0, 0, 1, putIn(0, "a"), output{Rev: 2}},
			row{0, 2, 3, input{Kind: opCAS, Keys: []int{0}, ExpectRevs: []int64{2}, Values: []string{"b"}}, output{Rev: 3, Succeeded: true}},
			row{0, 4, 5, input{Kind: opCAS, Keys: []int{0}, ExpectRevs: []int64{2}, Values: []string{"c"}}, output{Rev: 3, KVs: []kvState{val("b", 3, 2, 2)}}},
			row{0, 6, 7, input{Kind: opMultiTxn, Keys: []int{0, 1}, ExpectRevs: []int64{3, 0}, Values: []string{"d", "e"}}, output{Rev: 4, Succeeded: true}},
			row{0, 8, 9, input{Kind: opRangeAll}, output{Rev: 4, KVs: []kvState{val("d", 4, 2, 3), val("e", 4, 4, 1), {}, {}, {}, {}, {}, {}}}},
		),
		"lease revoke deletes attached keys": hist(
			row{0, 0, 1, input{Kind: opLeaseGrant}, output{Lease: 7}},
			row{0, 2, 3, input{Kind: opPut, Keys: []int{2}, Values: []string{"x"}, Lease: 7}, output{Rev: 2}},
			row{0, 4, 5, input{Kind: opLeaseRevoke, Lease: 7}, output{Rev: 3}},
			row{0, 6, 7, input{Kind: opPut, Keys: []int{3}, Values: []string{"y"}, Lease: 7}, output{Err: errLeaseNotFound}},
			row{0, 8, 9, getIn(2), getOut(3, kvState{})},
		),
	} {
		if res := check(t, ops); res != porcupine.Ok {
			t.Errorf("%s: %v, want Ok", name, res)
		}
	}
}

// The checker must be able to fail: each of these histories breaks
// linearizability (or etcd's revision rules) in one way.
func TestModelRejectsNonLinearizableHistories(t *testing.T) {
	for name, ops := range map[string][]porcupine.Operation{
		"stale read after acknowledged put": hist(
			row{0, 0, 1, putIn(0, "a"), output{Rev: 2}},
			row{0, 2, 3, putIn(0, "b"), output{Rev: 3}},
			row{1, 4, 5, getIn(0), getOut(2, val("a", 2, 2, 1))},
		),
		"lost acknowledged write": hist(
			row{0, 0, 1, putIn(0, "a"), output{Rev: 2}},
			row{1, 2, 3, getIn(0), getOut(1, kvState{})},
		),
		"read goes back in time": hist(
			row{0, 0, 10, putIn(0, "a"), output{Rev: 2}},
			row{1, 1, 2, getIn(0), getOut(2, val("a", 2, 2, 1))},
			row{2, 3, 4, getIn(0), getOut(1, kvState{})},
		),
		"revision reused": hist(
			row{0, 0, 1, putIn(0, "a"), output{Rev: 2}},
			row{1, 2, 3, putIn(1, "b"), output{Rev: 2}},
		),
		"wrong mod revision": hist(
			row{0, 0, 1, putIn(0, "a"), output{Rev: 2}},
			row{1, 2, 3, getIn(0), getOut(2, val("a", 3, 2, 1))},
		),
		"cas succeeded on a stale revision": hist(
			row{0, 0, 1, putIn(0, "a"), output{Rev: 2}},
			row{0, 2, 3, putIn(0, "b"), output{Rev: 3}},
			row{1, 4, 5, input{Kind: opCAS, Keys: []int{0}, ExpectRevs: []int64{2}, Values: []string{"c"}}, output{Rev: 4, Succeeded: true}},
		),
		"torn multi-key txn": hist(
			row{0, 0, 1, input{Kind: opMultiTxn, Keys: []int{0, 1}, ExpectRevs: []int64{0, 0}, Values: []string{"a", "b"}}, output{Rev: 2, Succeeded: true}},
			row{1, 2, 3, input{Kind: opRangeAll}, output{Rev: 2, KVs: []kvState{val("a", 2, 2, 1), {}, {}, {}, {}, {}, {}, {}}}},
		),
		"unknown put seen then unseen": hist(
			row{0, 0, -1, putIn(0, "a"), unknown},
			row{1, 2, 3, getIn(0), getOut(2, val("a", 2, 2, 1))},
			row{1, 4, 5, getIn(0), getOut(1, kvState{})},
		),
		"key of a revoked lease survives": hist(
			row{0, 0, 1, input{Kind: opLeaseGrant}, output{Lease: 7}},
			row{0, 2, 3, input{Kind: opPut, Keys: []int{2}, Values: []string{"x"}, Lease: 7}, output{Rev: 2}},
			row{0, 4, 5, input{Kind: opLeaseRevoke, Lease: 7}, output{Rev: 3}},
			row{1, 6, 7, getIn(2), getOut(3, kvState{Value: "x", ModRev: 2, Create: 2, Version: 1, Lease: 7})},
		),
	} {
		if res := check(t, ops); res != porcupine.Illegal {
			t.Errorf("%s: %v, want Illegal", name, res)
		}
	}
}
