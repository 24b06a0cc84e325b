package testutil

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and
// ends the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// trueAfter is a condition that holds from its nth call on, and counts
// its calls.
func trueAfter(n int, calls *int) func() bool {
	return func() bool {
		*calls++
		return *calls >= n
	}
}

func TestWaitUntil(t *testing.T) {
	tests := []struct {
		name      string
		timeout   time.Duration
		holdsFrom int // the call from which cond holds; 0: never
		wantMsg   string
		wantCalls int // 0: at least 2
	}{
		{name: "holds at once", timeout: time.Second, holdsFrom: 1, wantCalls: 1},
		{name: "holds later", timeout: time.Second, holdsFrom: 3, wantCalls: 3},
		{name: "never holds", timeout: 30 * time.Millisecond, wantMsg: "timed out after 30ms waiting for the thing"},
		{name: "zero timeout still calls once", timeout: 0, wantMsg: "timed out after 0s waiting for the thing", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			cond := trueAfter(tt.holdsFrom, &calls)
			if tt.holdsFrom == 0 {
				cond = func() bool { calls++; return false }
			}
			r := &fatalRecorder{TB: t}
			done := make(chan struct{})
			start := time.Now()
			go func() {
				defer close(done)
				WaitUntil(r, tt.timeout, "the thing", cond)
			}()
			<-done
			if r.msg != tt.wantMsg {
				t.Errorf("failure %q, want %q", r.msg, tt.wantMsg)
			}
			if tt.wantMsg != "" && time.Since(start) < tt.timeout {
				t.Errorf("gave up after %v, before the timeout %v", time.Since(start), tt.timeout)
			}
			if tt.wantCalls != 0 && calls != tt.wantCalls {
				t.Errorf("cond called %d times, want %d", calls, tt.wantCalls)
			}
			if tt.wantCalls == 0 && calls < 2 {
				t.Errorf("cond called %d times, want it polled", calls)
			}
		})
	}
}

func TestPoll(t *testing.T) {
	errNotYet := errors.New("not yet")
	tests := []struct {
		name        string
		timeout     time.Duration
		cond        func(call int) error
		wantTimeout bool
	}{
		{name: "nil at once", timeout: time.Second, cond: func(int) error { return nil }},
		{
			name: "nil later", timeout: time.Second,
			cond: func(call int) error {
				if call < 3 {
					return errNotYet
				}
				return nil
			},
		},
		{
			name: "timeout returns the last error", timeout: 30 * time.Millisecond,
			cond:        func(call int) error { return fmt.Errorf("call %d: %w", call, errNotYet) },
			wantTimeout: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			var last error
			start := time.Now()
			err := Poll(tt.timeout, func() error {
				calls++
				last = tt.cond(calls)
				return last
			})
			if !tt.wantTimeout {
				if err != nil {
					t.Fatalf("Poll = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Poll = nil, want a timeout")
			}
			if want := "timed out after 30ms: " + last.Error(); err.Error() != want {
				t.Errorf("Poll = %q, want %q (the last call's error)", err, want)
			}
			if !errors.Is(err, errNotYet) {
				t.Errorf("Poll = %v, does not wrap %v", err, errNotYet)
			}
			if calls < 2 {
				t.Errorf("cond called %d times, want it polled", calls)
			}
			if time.Since(start) < tt.timeout {
				t.Errorf("gave up after %v, before the timeout %v", time.Since(start), tt.timeout)
			}
		})
	}
}

func TestPollContext(t *testing.T) {
	errNotYet := errors.New("not yet")
	calls := 0
	err := PollContext(context.Background(), func() error {
		if calls++; calls < 3 {
			return errNotYet
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("PollContext = %v after %d calls, want nil after 3", err, calls)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err = PollContext(ctx, func() error { return errNotYet })
	if !errors.Is(err, errNotYet) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PollContext past its deadline = %v, want the last error and the context's", err)
	}
}
