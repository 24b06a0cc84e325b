package linearizability

import (
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// recorder collects the operations of every client with invocation and
// response times on one monotonic clock.
type recorder struct {
	start time.Time

	mu struct {
		sync.Mutex
		ops []porcupine.Operation
	}
}

func newRecorder() *recorder { return &recorder{start: time.Now()} }

// now is the time since the recorder's start, in nanoseconds (monotonic).
func (r *recorder) now() int64 { return int64(time.Since(r.start)) }

// add records an operation. An Unknown output gets its return time set to
// the end of the history by history().
func (r *recorder) add(client int, in input, call int64, out output, ret int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.ops = append(r.mu.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// history is the recorded operations; an operation whose outcome is
// unknown returns after everything else.
func (r *recorder) history() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return closeHistory(append([]porcupine.Operation(nil), r.mu.ops...))
}

// closeHistory gives operations of unknown outcome a return time after
// every other event: they may have taken effect at any point after their
// call, or never (which the checker expresses by placing them last).
func closeHistory(ops []porcupine.Operation) []porcupine.Operation {
	var end int64
	for _, op := range ops {
		end = max(end, op.Call, op.Return)
	}
	for i := range ops {
		if ops[i].Output.(output).Unknown {
			ops[i].Return = end + 1
		}
	}
	return ops
}
