// Package testutil holds what the test packages share: waiting for a
// condition by polling it against a deadline.
//
// Polling is for real goroutines and processes, whose progress a test can
// only observe; protocol logic is driven by ticks and messages instead.
package testutil

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// interval is the pause between two calls of a condition: short against
// the timeouts the tests use, long enough not to spin.
const interval = 10 * time.Millisecond

// WaitUntil calls cond until it returns true, sleeping a short interval
// between calls, and fails t if timeout passes first. It must be called
// from the goroutine running the test; what completes "waiting for".
func WaitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(interval)
	}
}

// PollContext is Poll bounded by ctx instead of a timeout: it returns
// cond's last error, wrapped with ctx's, once ctx is done.
func PollContext(ctx context.Context, cond func() error) error {
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		case <-time.After(interval):
		}
	}
}

// Poll calls cond until it returns nil, sleeping a short interval between
// calls. If timeout passes first it returns cond's last error, wrapped
// with the time waited. It fails no test, so it serves goroutines other
// than the test's and harness code that returns errors; cond's error is
// where the caller says what it saw.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}
