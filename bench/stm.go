package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"
)

// STMOptions are the flags of `stm`.
type STMOptions struct {
	// Isolation is c (read committed), r (repeatable reads), s
	// (serializable) or ss (serializable snapshot).
	Isolation string
	// Keys is the number of distinct keys; KeysPerTxn how many each txn
	// reads, and WritePercent the share of those it also writes.
	Keys, KeysPerTxn, WritePercent int
	Total                          int
	// Locker wraps each txn in a lock: stm (none), lock-client (a
	// concurrency.Mutex) or lock-rpc (the Lock service).
	Locker  string
	ValSize int
	Rate    int
}

// DefaultSTMOptions are etcd benchmark's defaults.
func DefaultSTMOptions() STMOptions {
	return STMOptions{Isolation: "r", Keys: 1, KeysPerTxn: 1, WritePercent: 50, Total: 10000, Locker: "stm", ValSize: 8}
}

const stmLockName = "stmlock"

// STM benchmarks software transactional memory txns (concurrency.NewSTM).
func STM(ctx context.Context, cfg *Config, o STMOptions) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if o.Keys <= 0 {
		return fmt.Errorf("expected positive --keys, got (%d)", o.Keys)
	}
	if o.WritePercent < 0 || o.WritePercent > 100 {
		return fmt.Errorf("expected [0, 100] --txn-wr-percent, got (%d)", o.WritePercent)
	}
	if o.KeysPerTxn < 0 || o.KeysPerTxn > o.Keys {
		return fmt.Errorf("expected --keys-per-txn between 0 and %d, got (%d)", o.Keys, o.KeysPerTxn)
	}
	iso, ok := map[string]concurrency.Isolation{
		"c": concurrency.ReadCommitted, "r": concurrency.RepeatableReads,
		"s": concurrency.Serializable, "ss": concurrency.SerializableSnapshot,
	}[o.Isolation]
	if !ok {
		return fmt.Errorf("unknown isolation %q: want c, r, s or ss", o.Isolation)
	}
	switch o.Locker {
	case "stm", "lock-client", "lock-rpc":
	default:
		return fmt.Errorf("unexpected stm locker %q", o.Locker)
	}
	cs, err := cfg.newClients(ctx, cfg.Clients, cfg.Conns)
	if err != nil {
		return err
	}
	defer cs.Close()
	// As etcd's, every client has a locker (and a session) of its own.
	lockers := make([]*stmLocker, len(cs.clients))
	for i, cli := range cs.clients {
		l, err := newSTMLocker(ctx, cli, o.Locker)
		if err != nil {
			return err
		}
		defer l.close()
		lockers[i] = l
	}

	lim := newLimiter(o.Rate, 1)
	bar := newProgress(cfg.Progress, o.Total)
	r := cfg.newReport()
	summary := r.Run()
	drive(ctx, len(cs.clients), o.Total, func(int) []string {
		set := make(map[string]struct{}, o.KeysPerTxn)
		keys := make([]string, 0, o.KeysPerTxn)
		for len(keys) < o.KeysPerTxn {
			k := make([]byte, 16)
			binary.PutVarint(k, int64(rand.IntN(o.Keys)))
			if _, dup := set[string(k)]; !dup {
				set[string(k)] = struct{}{}
				keys = append(keys, string(k))
			}
		}
		return keys
	}, func(c int, keys []string) {
		apply := func(s concurrency.STM) error {
			if err := lim.Wait(ctx); err != nil {
				return err
			}
			writes := len(keys) * o.WritePercent / 100
			for _, k := range keys {
				s.Get(k)
				if writes > 0 {
					s.Put(k, string(randBytes(o.ValSize)))
					writes--
				}
			}
			return nil
		}
		l, cli := lockers[c], cs.clients[c]
		timed(r.Results(), func() error {
			unlock, err := l.lock(ctx)
			if err != nil {
				return err
			}
			_, err = concurrency.NewSTM(cli, apply, concurrency.WithIsolation(iso), concurrency.WithAbortContext(ctx))
			if uerr := unlock(); uerr != nil && err == nil {
				err = uerr
			}
			return err
		})
		bar.Increment()
	})
	close(r.Results())
	bar.Finish()
	fmt.Fprintf(cfg.out(), "%s", <-summary)
	return ctx.Err()
}

// stmLocker takes the lock of one connection's clients around each txn.
type stmLocker struct {
	kind    string
	session *concurrency.Session
	cli     *clientv3.Client
}

func newSTMLocker(ctx context.Context, cli *clientv3.Client, kind string) (*stmLocker, error) {
	l := &stmLocker{kind: kind, cli: cli}
	if kind == "stm" {
		return l, nil
	}
	s, err := concurrency.NewSession(cli, concurrency.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("stm locker session: %w", err)
	}
	l.session = s
	return l, nil
}

// lock takes the lock and returns its release.
func (l *stmLocker) lock(ctx context.Context) (func() error, error) {
	switch l.kind {
	case "lock-client":
		m := concurrency.NewMutex(l.session, stmLockName)
		if err := m.Lock(ctx); err != nil {
			return nil, err
		}
		return func() error { return m.Unlock(context.Background()) }, nil
	case "lock-rpc":
		lc := v3lockpb.NewLockClient(l.cli.ActiveConnection())
		resp, err := lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte(stmLockName), Lease: int64(l.session.Lease())})
		if err != nil {
			return nil, err
		}
		return func() error {
			_, err := lc.Unlock(context.Background(), &v3lockpb.UnlockRequest{Key: resp.Key})
			return err
		}, nil
	}
	return func() error { return nil }, nil
}

func (l *stmLocker) close() {
	if l.session != nil {
		l.session.Close()
	}
}
