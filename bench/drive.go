package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/basaltkv/basalt/bench/report"
)

// drive makes total requests with gen (in order, from one goroutine) and
// hands each to the first free of the clients' goroutines, which runs
// work with its client's index (0 to clients-1). It returns once every
// request is done or ctx ends.
func drive[T any](ctx context.Context, clients int, total int, gen func(i int) T, work func(client int, req T)) {
	reqs := make(chan T, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for req := range reqs {
				work(c, req)
			}
		}()
	}
	go func() {
		defer close(reqs)
		for i := range total {
			select {
			case reqs <- gen(i):
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
}

// timed runs op and reports how long it took.
func timed(results chan<- report.Result, op func() error) {
	start := time.Now()
	err := op()
	results <- report.Result{Err: err, Start: start, End: time.Now()}
}

// keyOf writes n as a varint at the start of k (zero bytes after it), the
// key layout of etcd's benchmark; a key too short for the varint keeps
// its first len(k) bytes.
func keyOf(k []byte, n int64) {
	var buf [binary.MaxVarintLen64]byte
	w := binary.PutVarint(buf[:], n)
	clear(k)
	copy(k, buf[:w])
}

func checkConsistency(c string) (serializable bool, err error) {
	switch c {
	case "l":
		return false, nil
	case "s":
		return true, nil
	}
	return false, fmt.Errorf("unknown consistency %q: want l (linearizable) or s (serializable)", c)
}

func consistencyBanner(serializable bool) string {
	if serializable {
		return "bench with serializable range\n"
	}
	return "bench with linearizable range\n"
}
