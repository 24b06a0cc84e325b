package linearizability

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// opTimeout bounds one operation; past it the outcome is unknown.
const opTimeout = 2 * time.Second

// leaseTTL is long enough that no lease of the traffic expires during a
// run: the model has no clock.
const leaseTTL = 600

// worker is one client of the traffic: a sequential process issuing a
// seeded random mix of operations and recording each.
type worker struct {
	id  int
	cli *clientv3.Client
	rng *rand.Rand
	rec *recorder
	seq int
	// lastMod is the last mod revision this worker saw of each key, the
	// expectation of its compare-and-swaps.
	lastMod [numKeys]int64
	lease   int64
}

func (w *worker) value() string {
	w.seq++
	return fmt.Sprintf("c%d-%d", w.id, w.seq)
}

func (w *worker) run(ctx context.Context) {
	for ctx.Err() == nil {
		if ok := w.step(ctx); !ok {
			// After a failure, back off a little instead of piling up
			// operations of unknown outcome.
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(50+w.rng.IntN(100)) * time.Millisecond):
			}
		}
	}
}

// step issues one operation; it reports false if it failed.
func (w *worker) step(ctx context.Context) bool {
	key := w.rng.IntN(numKeys)
	p := w.rng.IntN(100)
	switch {
	case p < 25:
		return w.get(ctx, key)
	case p < 30:
		return w.rangeAll(ctx)
	case p < 50:
		return w.put(ctx, key, 0)
	case p < 58:
		return w.del(ctx, key)
	case p < 73:
		return w.txn(ctx, []int{key})
	case p < 83:
		other := (key + 1 + w.rng.IntN(numKeys-1)) % numKeys
		return w.txn(ctx, []int{key, other})
	default:
		switch {
		case w.lease == 0:
			return w.grant(ctx)
		case w.rng.IntN(4) == 0:
			return w.revoke(ctx)
		default:
			return w.put(ctx, key, w.lease)
		}
	}
}

// do runs fn with the operation timeout and records in and its output.
// Reads that fail are not recorded: they changed nothing.
func (w *worker) do(ctx context.Context, in input, fn func(ctx context.Context) (output, error)) bool {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	call := w.rec.now()
	out, err := fn(octx)
	ret := w.rec.now()
	if err != nil {
		switch {
		// A put is never retried once sent, so its "lease not found" is
		// definite; clientv3 retries a revoke, whose second attempt may
		// find the lease the first revoked.
		case errors.Is(err, rpctypes.ErrLeaseNotFound) && in.Kind == opPut:
			out = output{Err: errLeaseNotFound}
		case in.Kind == opGet || in.Kind == opRangeAll:
			return false
		default:
			out = output{Unknown: true}
		}
	}
	w.rec.add(w.id, in, call, out, ret)
	return err == nil
}

func kvOf(kv *mvccpb.KeyValue) kvState {
	if kv == nil {
		return kvState{}
	}
	return kvState{Value: string(kv.Value), ModRev: kv.ModRevision, Create: kv.CreateRevision, Version: kv.Version, Lease: kv.Lease}
}

func (w *worker) get(ctx context.Context, key int) bool {
	return w.do(ctx, input{Kind: opGet, Keys: []int{key}}, func(ctx context.Context) (output, error) {
		resp, err := w.cli.Get(ctx, keyName(key))
		if err != nil {
			return output{}, err
		}
		var kv kvState
		if len(resp.Kvs) > 0 {
			kv = kvOf(resp.Kvs[0])
		}
		w.lastMod[key] = kv.ModRev
		return output{Rev: resp.Header.Revision, KVs: []kvState{kv}}, nil
	})
}

func (w *worker) rangeAll(ctx context.Context) bool {
	return w.do(ctx, input{Kind: opRangeAll}, func(ctx context.Context) (output, error) {
		resp, err := w.cli.Get(ctx, keyPrefix, clientv3.WithPrefix())
		if err != nil {
			return output{}, err
		}
		return rangeAllOutput(resp), nil
	})
}

// rangeAllOutput maps a range of the whole prefix to one kvState per key
// of the key set; a key outside the set makes the output impossible.
func rangeAllOutput(resp *clientv3.GetResponse) output {
	out := output{Rev: resp.Header.Revision, KVs: make([]kvState, numKeys)}
	for _, kv := range resp.Kvs {
		i := keyIndex(string(kv.Key))
		if i < 0 {
			return output{Err: "unexpected key " + string(kv.Key)}
		}
		out.KVs[i] = kvOf(kv)
	}
	return out
}

func (w *worker) put(ctx context.Context, key int, lease int64) bool {
	in := input{Kind: opPut, Keys: []int{key}, Values: []string{w.value()}, Lease: lease}
	ok := w.do(ctx, in, func(ctx context.Context) (output, error) {
		var opts []clientv3.OpOption
		if lease != 0 {
			opts = append(opts, clientv3.WithLease(clientv3.LeaseID(lease)))
		}
		resp, err := w.cli.Put(ctx, keyName(key), in.Values[0], opts...)
		if err != nil {
			return output{}, err
		}
		w.lastMod[key] = resp.Header.Revision
		return output{Rev: resp.Header.Revision}, nil
	})
	if !ok && lease != 0 {
		w.lease = 0 // revoked or unknown: start over with a new one
	}
	return ok
}

func (w *worker) del(ctx context.Context, key int) bool {
	return w.do(ctx, input{Kind: opDelete, Keys: []int{key}}, func(ctx context.Context) (output, error) {
		resp, err := w.cli.Delete(ctx, keyName(key))
		if err != nil {
			return output{}, err
		}
		w.lastMod[key] = 0
		return output{Rev: resp.Header.Revision, Deleted: resp.Deleted}, nil
	})
}

// txn is a compare-and-swap of keys: if each key's mod revision is what
// this worker last saw, put a new value in each, else read them.
func (w *worker) txn(ctx context.Context, keys []int) bool {
	kind := opCAS
	if len(keys) > 1 {
		kind = opMultiTxn
	}
	in := input{Kind: kind, Keys: keys}
	var cmps []clientv3.Cmp
	var thens, elses []clientv3.Op
	for _, k := range keys {
		in.ExpectRevs = append(in.ExpectRevs, w.lastMod[k])
		in.Values = append(in.Values, w.value())
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(keyName(k)), "=", w.lastMod[k]))
		thens = append(thens, clientv3.OpPut(keyName(k), in.Values[len(in.Values)-1]))
		elses = append(elses, clientv3.OpGet(keyName(k)))
	}
	return w.do(ctx, in, func(ctx context.Context) (output, error) {
		resp, err := w.cli.Txn(ctx).If(cmps...).Then(thens...).Else(elses...).Commit()
		if err != nil {
			return output{}, err
		}
		out := output{Rev: resp.Header.Revision, Succeeded: resp.Succeeded}
		if resp.Succeeded {
			for _, k := range keys {
				w.lastMod[k] = resp.Header.Revision
			}
			return out, nil
		}
		for i, r := range resp.Responses {
			var kv kvState
			if rr := r.GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
				kv = kvOf(rr.Kvs[0])
			}
			w.lastMod[keys[i]] = kv.ModRev
			out.KVs = append(out.KVs, kv)
		}
		return out, nil
	})
}

func (w *worker) grant(ctx context.Context) bool {
	return w.do(ctx, input{Kind: opLeaseGrant}, func(ctx context.Context) (output, error) {
		resp, err := w.cli.Grant(ctx, leaseTTL)
		if err != nil {
			return output{}, err
		}
		w.lease = int64(resp.ID)
		return output{Lease: int64(resp.ID)}, nil
	})
}

func (w *worker) revoke(ctx context.Context) bool {
	id := w.lease
	w.lease = 0
	return w.do(ctx, input{Kind: opLeaseRevoke, Lease: id}, func(ctx context.Context) (output, error) {
		resp, err := w.cli.Revoke(ctx, clientv3.LeaseID(id))
		if err != nil {
			return output{}, err
		}
		return output{Rev: resp.Header.Revision}, nil
	})
}
