package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// End-to-end benchmarks: real basalt processes on loopback, clientv3 over
// the network. Run with `go test -run XXX -bench . ./tests/e2e`.

func benchClients(b *testing.B, c *Cluster, n int) []*clientv3.Client {
	// As etcd's benchmark tool: 1,000 clients share 100 connections.
	conns := min(n, 100)
	clis := make([]*clientv3.Client, conns)
	for i := range clis {
		clis[i] = NewClient(b, c.Endpoints(), c.ClientTLS(b))
	}
	return clis
}

// runConcurrent calls op b.N times from n goroutines.
func runConcurrent(b *testing.B, n int, clis []*clientv3.Client, op func(cli *clientv3.Client, i int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func(cli *clientv3.Client) {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := op(cli, i); err != nil {
					b.Error(err)
					return
				}
			}
		}(clis[g%len(clis)])
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkE2E(b *testing.B) {
	val := string(make([]byte, 256))
	for _, members := range []int{1, 3} {
		c := NewCluster(b, members, nil)
		ctx := context.Background()
		for _, clients := range []int{1, 1000} {
			clis := benchClients(b, c, clients)
			b.Run(fmt.Sprintf("put/members=%d/clients=%d", members, clients), func(b *testing.B) {
				runConcurrent(b, clients, clis, func(cli *clientv3.Client, i int64) error {
					_, err := cli.Put(ctx, fmt.Sprintf("k%08d", i%100000), val)
					return err
				})
			})
			for _, serializable := range []bool{false, true} {
				name := "linearizable"
				var opts []clientv3.OpOption
				if serializable {
					name = "serializable"
					opts = append(opts, clientv3.WithSerializable())
				}
				b.Run(fmt.Sprintf("range-%s/members=%d/clients=%d", name, members, clients), func(b *testing.B) {
					runConcurrent(b, clients, clis, func(cli *clientv3.Client, i int64) error {
						_, err := cli.Get(ctx, fmt.Sprintf("k%08d", i%1000), opts...)
						return err
					})
				})
			}
		}
		c.Stop(b)
	}
}
