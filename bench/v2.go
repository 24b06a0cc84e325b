package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// V2Options are the flags of `v2-put` and `v2-get`: basalt-bench's own
// benchmarks of the v2 keys API (etcd's benchmark has none), for servers
// run with --enable-v2.
type V2Options struct {
	KeySize, ValSize int
	Total            int
	// KeySpaceSize is the number of distinct keys; SequentialKeys walks
	// them in order instead of at random.
	KeySpaceSize   int
	SequentialKeys bool
	// Quorum makes v2-get's reads go through raft (quorum=true).
	Quorum bool
}

// DefaultV2Options mirror put's defaults.
func DefaultV2Options() V2Options {
	return V2Options{KeySize: 8, ValSize: 8, Total: 10000, KeySpaceSize: 1}
}

// V2Put benchmarks PUT /v2/keys/<key> of o.ValSize-byte values.
func V2Put(ctx context.Context, cfg *Config, o V2Options) error {
	val := url.Values{"value": {string(randAlnum(o.ValSize))}}.Encode()
	return runV2(ctx, cfg, o, func(c *http.Client, base, key string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/v2/keys/"+key, strings.NewReader(val))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return req, err
	})
}

// V2Get benchmarks GET /v2/keys/<key>, of keys v2-put wrote (or that do
// not exist: a 404 is an answer too).
func V2Get(ctx context.Context, cfg *Config, o V2Options) error {
	query := ""
	if o.Quorum {
		query = "?quorum=true"
	}
	return runV2(ctx, cfg, o, func(c *http.Client, base, key string) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/keys/"+key+query, nil)
	})
}

// runV2 sends o.Total requests from cfg.Clients goroutines over
// cfg.Conns keep-alive connections spread over the endpoints.
func runV2(ctx context.Context, cfg *Config, o V2Options, newReq func(c *http.Client, base, key string) (*http.Request, error)) error {
	if len(cfg.Endpoints) == 0 {
		return fmt.Errorf("no endpoints")
	}
	if o.KeySpaceSize <= 0 {
		return fmt.Errorf("expected positive --key-space-size, got (%d)", o.KeySpaceSize)
	}
	clients := max(cfg.Clients, 1)
	conns := max(min(cfg.Conns, clients), 1)
	hcs := make([]*http.Client, conns)
	for i := range hcs {
		hcs[i] = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
			MaxIdleConnsPerHost: clients/conns + 1,
		}}
	}
	eps := cfg.Endpoints
	if cfg.TargetLeader {
		// The leader is found over the v3 API, as the other workloads do.
		cli, err := cfg.dial(ctx)
		if err != nil {
			return err
		}
		cli.Close()
		cfg.mu.Lock()
		eps = cfg.leaderEps
		cfg.mu.Unlock()
	}
	bases := make([]string, len(eps))
	for i, ep := range eps {
		if !strings.Contains(ep, "://") {
			ep = "http://" + ep
		}
		bases[i] = strings.TrimSuffix(ep, "/")
	}
	bar := newProgress(cfg.Progress, o.Total)
	r := cfg.newReport()
	summary := r.Run()
	drive(ctx, clients, o.Total, func(i int) string {
		n := rand.IntN(o.KeySpaceSize)
		if o.SequentialKeys {
			n = i % o.KeySpaceSize
		}
		return v2Key(n, o.KeySize)
	}, func(c int, key string) {
		hc := hcs[c%conns]
		base := bases[c%len(bases)]
		timed(r.Results(), func() error {
			req, err := newReq(hc, base, key)
			if err != nil {
				return err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode >= 500 {
				err = fmt.Errorf("%s", resp.Status)
			}
			return err
		})
		bar.Increment()
	})
	close(r.Results())
	bar.Finish()
	fmt.Fprintln(cfg.out(), <-summary)
	return nil
}

// v2Key is key number n as a path name of size characters (zero-padded
// decimal; longer numbers are kept whole).
func v2Key(n, size int) string {
	s := strconv.Itoa(n)
	if len(s) < size {
		s = strings.Repeat("0", size-len(s)) + s
	}
	return s
}

// randAlnum is n random letters and digits: a form value that needs no
// escaping.
func randAlnum(n int) []byte {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return b
}
