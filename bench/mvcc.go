package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/basaltkv/basalt/bench/report"
	"github.com/basaltkv/basalt/storage/backend"
	"github.com/basaltkv/basalt/storage/mvcc"
)

// MVCCOptions are the flags `mvcc` shares with its subcommands: the
// backend's batching.
type MVCCOptions struct {
	// BatchInterval is the longest a write waits for its backend commit;
	// BatchLimit the number of writes that forces one.
	BatchInterval time.Duration
	BatchLimit    int
	// Dir holds the temporary database (default: the system's temp dir).
	Dir string
	// CPUProfile and MemProfile, if set, are where to write pprof
	// profiles of the benchmark loop.
	CPUProfile, MemProfile string
}

// DefaultMVCCOptions are etcd benchmark's defaults.
func DefaultMVCCOptions() MVCCOptions {
	return MVCCOptions{BatchInterval: 100 * time.Millisecond, BatchLimit: 10000}
}

// mvccStore opens a store over a new backend in a temporary directory;
// close removes both.
func (o MVCCOptions) open() (s *mvcc.Store, closeAll func(), err error) {
	dir, err := os.MkdirTemp(o.Dir, "mvcc-bench-")
	if err != nil {
		return nil, nil, err
	}
	be, err := backend.Open(backend.Config{Path: filepath.Join(dir, "db"), BatchInterval: o.BatchInterval, BatchLimit: o.BatchLimit})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("open backend: %w", err)
	}
	s, err = mvcc.NewStore(be, nil, mvcc.Config{})
	if err != nil {
		be.Close()
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("open mvcc store: %w", err)
	}
	return s, func() { s.Close(); be.Close(); os.RemoveAll(dir) }, nil
}

// profile starts the CPU profile and returns what stops it and writes the
// heap profile.
func (o MVCCOptions) profile() (stop func() error, err error) {
	var cpu *os.File
	if o.CPUProfile != "" {
		if cpu, err = os.Create(o.CPUProfile); err != nil {
			return nil, fmt.Errorf("create cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, fmt.Errorf("start cpu profile: %w", err)
		}
	}
	return func() error {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if o.MemProfile == "" {
			return nil
		}
		f, err := os.Create(o.MemProfile)
		if err != nil {
			return fmt.Errorf("create heap profile: %w", err)
		}
		defer f.Close()
		return pprof.WriteHeapProfile(f)
	}, nil
}

// MVCCPutOptions are the flags of `mvcc put`.
type MVCCPutOptions struct {
	Total              int
	KeySize, ValueSize int
	// Txn puts TxnOps keys per write transaction; the summary then counts
	// operations, not transactions.
	Txn    bool
	TxnOps int
}

// DefaultMVCCPutOptions are etcd benchmark's defaults.
func DefaultMVCCPutOptions() MVCCPutOptions {
	return MVCCPutOptions{Total: 100, KeySize: 64, ValueSize: 64, TxnOps: 1}
}

// MVCCPut benchmarks puts straight into basalt's storage/mvcc store.
func MVCCPut(cfg *Config, mo MVCCOptions, o MVCCPutOptions) error {
	if o.Total < 0 || o.TxnOps <= 0 {
		return fmt.Errorf("expected non-negative --total and positive --txn-ops, got (%d) and (%d)", o.Total, o.TxnOps)
	}
	s, closeStore, err := mo.open()
	if err != nil {
		return err
	}
	defer closeStore()
	perTxn := 1
	if o.Txn {
		perTxn = o.TxnOps
	}
	n := o.Total * perTxn
	keys, vals := make([][]byte, n), make([][]byte, n)
	for i := range keys {
		keys[i], vals[i] = randBytes(o.KeySize), randBytes(o.ValueSize)
	}
	stop, err := mo.profile()
	if err != nil {
		return err
	}
	r := report.New(report.Options{Precise: cfg.Precise, Sample: cfg.Sample, Weighted: true})
	summary := r.Run()
	var endErr error
	for i := 0; i < o.Total && endErr == nil; i++ {
		st := time.Now()
		w := s.Write()
		for j := i * perTxn; j < (i+1)*perTxn; j++ {
			w.Put(keys[j], vals[j], 0)
		}
		endErr = w.End()
		r.Results() <- report.Result{Start: st, End: time.Now(), Weight: float64(perTxn), Err: endErr}
	}
	close(r.Results())
	fmt.Fprintf(cfg.out(), "%s", <-summary)
	if err := stop(); err != nil {
		return err
	}
	return endErr
}

// MVCCRangeOptions are the flags of `mvcc range`, a basalt addition: reads
// of RangeSize consecutive keys from a store preloaded with Keys keys.
type MVCCRangeOptions struct {
	Total              int
	Keys, RangeSize    int
	KeySize, ValueSize int
}

// DefaultMVCCRangeOptions match mvcc put's sizes.
func DefaultMVCCRangeOptions() MVCCRangeOptions {
	return MVCCRangeOptions{Total: 10000, Keys: 10000, RangeSize: 1, KeySize: 64, ValueSize: 64}
}

// MVCCRange benchmarks range reads straight from basalt's storage/mvcc
// store.
func MVCCRange(cfg *Config, mo MVCCOptions, o MVCCRangeOptions) error {
	if o.Keys <= 0 || o.RangeSize <= 0 || o.RangeSize > o.Keys {
		return fmt.Errorf("expected positive --keys and --range-size no larger than it, got (%d) and (%d)", o.Keys, o.RangeSize)
	}
	if digits := len(fmt.Sprint(o.Keys)); o.KeySize < digits {
		return fmt.Errorf("expected --key-size of at least %d for %d keys, got (%d)", digits, o.Keys, o.KeySize)
	}
	s, closeStore, err := mo.open()
	if err != nil {
		return err
	}
	defer closeStore()
	// Keys are zero-padded decimals so that key order is index order.
	key := func(i int) []byte { return []byte(fmt.Sprintf("%0*d", o.KeySize, i)) }
	const loadBatch = 1000
	for i := 0; i < o.Keys; i += loadBatch {
		w := s.Write()
		for j := i; j < min(i+loadBatch, o.Keys); j++ {
			w.Put(key(j), randBytes(o.ValueSize), 0)
		}
		if err := w.End(); err != nil {
			return fmt.Errorf("preload keys: %w", err)
		}
	}
	stop, err := mo.profile()
	if err != nil {
		return err
	}
	r := report.New(report.Options{Precise: cfg.Precise, Sample: cfg.Sample})
	summary := r.Run()
	for range o.Total {
		first := rand.IntN(o.Keys - o.RangeSize + 1)
		start, end := key(first), []byte(nil)
		if o.RangeSize > 1 {
			end = key(first + o.RangeSize)
		}
		st := time.Now()
		rt := s.Read()
		res, err := rt.Range(start, end, mvcc.RangeOptions{})
		rt.End()
		if err == nil && len(res.KVs) != o.RangeSize {
			err = fmt.Errorf("range read %d keys, want %d", len(res.KVs), o.RangeSize)
		}
		r.Results() <- report.Result{Start: st, End: time.Now(), Err: err}
	}
	close(r.Results())
	fmt.Fprintf(cfg.out(), "%s", <-summary)
	return stop()
}
