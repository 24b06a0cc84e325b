package bench

import (
	"context"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// LeaseKeepaliveOptions are the flags of `lease-keepalive`.
type LeaseKeepaliveOptions struct {
	Total int
}

// DefaultLeaseKeepaliveOptions are etcd benchmark's defaults.
func DefaultLeaseKeepaliveOptions() LeaseKeepaliveOptions {
	return LeaseKeepaliveOptions{Total: 10000}
}

// leaseTTL is the TTL of each client's lease, in seconds: long enough that
// none expires during a run.
const leaseTTL = 100

// LeaseKeepalive benchmarks single keep-alives: each client grants a lease
// and renews it once per request.
func LeaseKeepalive(ctx context.Context, cfg *Config, o LeaseKeepaliveOptions) error {
	if err := cfg.check(); err != nil {
		return err
	}
	cs, err := cfg.newClients(ctx, cfg.Clients, cfg.Conns)
	if err != nil {
		return err
	}
	defer cs.Close()
	leases := make([]clientv3.LeaseID, len(cs.clients))
	var (
		mu       sync.Mutex
		grantErr error
		wg       sync.WaitGroup
	)
	for i, cli := range cs.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := cli.Grant(ctx, leaseTTL)
			if err != nil {
				mu.Lock()
				grantErr = fmt.Errorf("grant a lease: %w", err)
				mu.Unlock()
				return
			}
			leases[i] = resp.ID
		}()
	}
	wg.Wait()
	if grantErr != nil {
		return grantErr
	}
	bar := newProgress(cfg.Progress, o.Total)
	r := cfg.newReport()
	summary := r.Run()
	drive(ctx, len(cs.clients), o.Total, func(int) struct{} { return struct{}{} }, func(c int, _ struct{}) {
		timed(r.Results(), func() error { _, err := cs.clients[c].KeepAliveOnce(ctx, leases[c]); return err })
		bar.Increment()
	})
	close(r.Results())
	bar.Finish()
	fmt.Fprintf(cfg.out(), "%s", <-summary)
	return ctx.Err()
}
