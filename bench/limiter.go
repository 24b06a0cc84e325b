package bench

import (
	"context"
	"sync"
	"time"
)

// limiter spaces out requests to at most rate per second, letting up to
// burst through at once after a pause. A nil limiter never waits.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	burst    time.Duration // interval × burst: how far next may lag now
	next     time.Time     // when the next request may go
}

// newLimiter returns a limiter of rate requests per second, or nil for a
// rate of 0 or less (no limit).
func newLimiter(rate, burst int) *limiter {
	if rate <= 0 {
		return nil
	}
	burst = max(burst, 1)
	iv := time.Second / time.Duration(rate)
	return &limiter{interval: iv, burst: iv * time.Duration(burst)}
}

// Wait blocks until the next request may go or ctx ends.
func (l *limiter) Wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	// Unused capacity accumulates up to burst requests.
	if earliest := now.Add(-l.burst + l.interval); l.next.Before(earliest) {
		l.next = earliest
	}
	at := l.next
	l.next = l.next.Add(l.interval)
	l.mu.Unlock()
	d := at.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
