package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/basaltkv/basalt/bench/report"
)

// WatchOptions are the flags of `watch`.
type WatchOptions struct {
	// Streams watch streams carry WatchPerStream watchers each, spread
	// over WatchedKeyTotal keys.
	Streams, WatchPerStream, WatchedKeyTotal int
	// PutRate caps puts per second (0 is no limit); PutTotal puts change
	// the watched keys in turn.
	PutRate, PutTotal int
	KeySize           int
	KeySpaceSize      int
	SequentialKeys    bool
}

// DefaultWatchOptions are etcd benchmark's defaults.
func DefaultWatchOptions() WatchOptions {
	return WatchOptions{Streams: 10, WatchPerStream: 100, WatchedKeyTotal: 1, PutTotal: 1000, KeySize: 32, KeySpaceSize: 1}
}

// Watch benchmarks creating watchers, then delivering the events of puts
// to the watched keys.
func Watch(ctx context.Context, cfg *Config, o WatchOptions, warn io.Writer) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if o.KeySpaceSize <= 0 {
		return fmt.Errorf("expected positive --key-space-size, got (%d)", o.KeySpaceSize)
	}
	if o.WatchedKeyTotal <= 0 {
		return fmt.Errorf("expected positive --watched-key-total, got (%d)", o.WatchedKeyTotal)
	}
	conns := min(cfg.Clients, cfg.Conns)
	if want := 1 + o.Streams/100; conns < want && warn != nil {
		fmt.Fprintf(warn, "warning: grpc limits 100 streams per client connection, have %d but need %d\n", conns, want)
	}
	cs, err := cfg.newClients(ctx, cfg.Clients, cfg.Conns)
	if err != nil {
		return err
	}
	defer cs.Close()

	keys := make([]string, o.WatchedKeyTotal)
	for i := range keys {
		k := make([]byte, o.KeySize)
		n := rand.IntN(o.KeySpaceSize)
		if o.SequentialKeys {
			n = i % o.KeySpaceSize
		}
		keyOf(k, int64(n))
		keys[i] = string(k)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Watch creation: stream s takes keys s, s+Streams, ... so that every
	// key is watched by its share of the watchers.
	total := o.Streams * o.WatchPerStream
	watchersOf := make(map[string]int)
	for i := range total {
		watchersOf[keys[i%len(keys)]]++
	}
	bar := newProgress(cfg.Progress, total)
	r := cfg.newReport()
	summary := r.Run()
	chans := make([][]clientv3.WatchChan, o.Streams)
	var wg sync.WaitGroup
	for s := range o.Streams {
		w := clientv3.NewWatcher(cs.clients[s%len(cs.clients)])
		defer w.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range o.WatchPerStream {
				k := keys[(j*o.Streams+s)%len(keys)]
				st := time.Now()
				ch := w.Watch(wctx, k)
				r.Results() <- report.Result{Start: st, End: time.Now()}
				chans[s] = append(chans[s], ch)
				bar.Increment()
			}
		}()
	}
	wg.Wait()
	close(r.Results())
	bar.Finish()
	fmt.Fprintf(cfg.out(), "Watch creation summary:\n%s", <-summary)
	if err := ctx.Err(); err != nil {
		return err
	}

	// Event delivery: every watcher counts its events until all expected
	// have arrived.
	events := 0
	for i := range o.PutTotal {
		events += watchersOf[keys[i%len(keys)]]
	}
	bar = newProgress(cfg.Progress, events)
	r = cfg.newReport()
	summary = r.Run()
	var left atomic.Int64
	left.Store(int64(events))
	allSeen := make(chan struct{})
	var once sync.Once
	for _, chs := range chans {
		for _, ch := range chs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for resp := range ch {
					st := time.Now()
					for range resp.Events {
						r.Results() <- report.Result{Start: st, End: time.Now()}
						bar.Increment()
						if left.Add(-1) == 0 {
							once.Do(func() { close(allSeen) })
						}
					}
				}
			}()
		}
	}
	lim := newLimiter(o.PutRate, 1)
	putErr := make(chan error, 1)
	drive(ctx, len(cs.clients), o.PutTotal, func(i int) clientv3.Op {
		return clientv3.OpPut(keys[i%len(keys)], "data")
	}, func(c int, op clientv3.Op) {
		if lim.Wait(ctx) != nil {
			return
		}
		if _, err := cs.clients[c].Do(ctx, op); err != nil {
			select {
			case putErr <- fmt.Errorf("put: %w", err):
			default:
			}
		}
	})
	var err2 error
	select {
	case <-allSeen:
	case err2 = <-putErr:
	case <-ctx.Done():
		err2 = ctx.Err()
	}
	cancel()
	wg.Wait()
	close(r.Results())
	bar.Finish()
	fmt.Fprintf(cfg.out(), "Watch events received summary:\n%s", <-summary)
	return err2
}

// WatchGetOptions are the flags of `watch-get`.
type WatchGetOptions struct {
	Watchers, Streams int
	// Events is the number of events each watcher must catch up on.
	Events int
}

// DefaultWatchGetOptions are etcd benchmark's defaults.
func DefaultWatchGetOptions() WatchGetOptions {
	return WatchGetOptions{Watchers: 10000, Streams: 1, Events: 8}
}

const watchGetKey = "watchkey"

// WatchGet benchmarks serializable gets while many watchers catch up on
// past events (unsynced watchers).
func WatchGet(ctx context.Context, cfg *Config, o WatchGetOptions) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if o.Streams <= 0 || o.Watchers < 0 || o.Events <= 0 {
		return fmt.Errorf("expected positive --streams and --events, got (%d) and (%d)", o.Streams, o.Events)
	}
	cs, err := cfg.newClients(ctx, cfg.Clients, cfg.Conns)
	if err != nil {
		return err
	}
	defer cs.Close()
	getter, err := cfg.dial(ctx)
	if err != nil {
		return err
	}
	defer getter.Close()

	var fromRev int64
	for i := range o.Events {
		resp, err := cs.clients[0].Put(ctx, watchGetKey, fmt.Sprint(i))
		if err != nil {
			return fmt.Errorf("put %s: %w", watchGetKey, err)
		}
		if i == 0 {
			fromRev = resp.Header.Revision
		}
	}

	streams := make([]clientv3.Watcher, o.Streams)
	for i := range streams {
		streams[i] = clientv3.NewWatcher(cs.clients[i%len(cs.clients)])
		defer streams[i].Close()
	}
	bar := newProgress(cfg.Progress, o.Watchers*o.Events)
	r := cfg.newReport()
	summary := r.Run()
	getCtx, stopGets := context.WithCancel(ctx)
	getsDone := make(chan struct{})
	var startGets sync.Once
	gets := func() {
		defer close(getsDone)
		for {
			st := time.Now()
			_, err := getter.Get(getCtx, "abc", clientv3.WithSerializable())
			if getCtx.Err() != nil {
				return
			}
			r.Results() <- report.Result{Err: err, Start: st, End: time.Now()}
		}
	}
	wctx, cancelWatches := context.WithCancel(ctx)
	defer cancelWatches()
	var wg sync.WaitGroup
	for i := range o.Watchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch := streams[i%len(streams)].Watch(wctx, watchGetKey, clientv3.WithRev(fromRev))
			startGets.Do(func() { go gets() })
			for seen := 0; seen < o.Events; {
				resp, ok := <-ch
				if !ok {
					return
				}
				seen += len(resp.Events)
				bar.Add(len(resp.Events))
			}
		}()
	}
	wg.Wait()
	stopGets()
	startGets.Do(func() { close(getsDone) })
	<-getsDone
	close(r.Results())
	bar.Finish()
	fmt.Fprintf(cfg.out(), "Get during watch summary:\n%s", <-summary)
	return ctx.Err()
}

// WatchLatencyOptions are the flags of `watch-latency`.
type WatchLatencyOptions struct {
	Streams, WatchersPerStream int
	PrevKV                     bool
	PutTotal, PutRate          int
	KeySize, ValSize           int
}

// DefaultWatchLatencyOptions are etcd benchmark's defaults.
func DefaultWatchLatencyOptions() WatchLatencyOptions {
	return WatchLatencyOptions{Streams: 10, WatchersPerStream: 10, PutTotal: 1000, PutRate: 100, KeySize: 32, ValSize: 32}
}

// WatchLatency benchmarks the time from a put's response to each watcher's
// receipt of its event, with every watcher on one key.
func WatchLatency(ctx context.Context, cfg *Config, o WatchLatencyOptions) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if o.PutRate <= 0 {
		return fmt.Errorf("expected positive --put-rate, got (%d)", o.PutRate)
	}
	key, val := string(randBytes(o.KeySize)), string(randBytes(o.ValSize))
	cs, err := cfg.newClients(ctx, cfg.Clients, cfg.Conns)
	if err != nil {
		return err
	}
	defer cs.Close()
	var opts []clientv3.OpOption
	if o.PrevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	wctx, cancelWatches := context.WithCancel(ctx)
	defer cancelWatches()
	var chans []clientv3.WatchChan
	for s := range o.Streams {
		w := clientv3.NewWatcher(cs.clients[s%len(cs.clients)])
		defer w.Close()
		for range o.WatchersPerStream {
			chans = append(chans, w.Watch(wctx, key, opts...))
		}
	}
	putter, err := cfg.dial(ctx)
	if err != nil {
		return err
	}
	defer putter.Close()

	bar := newProgress(cfg.Progress, o.PutTotal*len(chans))
	putTimes := make([]time.Time, o.PutTotal)
	eventTimes := make([][]time.Time, len(chans))
	var wg sync.WaitGroup
	for i, ch := range chans {
		eventTimes[i] = make([]time.Time, 0, o.PutTotal)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(eventTimes[i]) < o.PutTotal {
				resp, ok := <-ch
				if !ok {
					return
				}
				for range resp.Events {
					eventTimes[i] = append(eventTimes[i], time.Now())
					bar.Increment()
				}
			}
		}()
	}

	lim := newLimiter(o.PutRate, o.PutRate)
	putReport := cfg.newReport()
	putSummary := putReport.Run()
	// The watch report's clock runs from the first put: its rate is events
	// delivered per second of the run.
	watchReport := cfg.newReport()
	watchSummary := watchReport.Run()
	var putErr error
	for i := range o.PutTotal {
		if err := lim.Wait(ctx); err != nil {
			putErr = err
			break
		}
		st := time.Now()
		if _, err := putter.Put(ctx, key, val); err != nil {
			putErr = fmt.Errorf("failed to put for watch latency benchmark: %w", err)
			break
		}
		putTimes[i] = time.Now()
		putReport.Results() <- report.Result{Start: st, End: putTimes[i]}
	}
	if putErr != nil {
		cancelWatches()
	}
	wg.Wait()
	close(putReport.Results())
	bar.Finish()
	fmt.Fprintf(cfg.out(), "\nPut summary:\n%s", <-putSummary)
	if putErr != nil {
		close(watchReport.Results())
		<-watchSummary
		return putErr
	}

	for i := range chans {
		for j, end := range eventTimes[i] {
			// An event may arrive before its put's response.
			start := putTimes[j]
			if start.After(end) {
				start = end
			}
			watchReport.Results() <- report.Result{Start: start, End: end}
		}
	}
	close(watchReport.Results())
	fmt.Fprintf(cfg.out(), "\nWatch events summary:\n%s", <-watchSummary)
	return ctx.Err()
}
