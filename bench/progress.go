package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progress draws "done / total [===>   ] pct%" on a terminal, redrawn a few
// times a second. A progress with no writer counts silently.
type progress struct {
	w     io.Writer
	total int64
	done  atomic.Int64
	start time.Time

	stopOnce sync.Once
	stopc    chan struct{}
	donec    chan struct{}
}

const progressWidth = 50

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: int64(total), start: time.Now(), stopc: make(chan struct{}), donec: make(chan struct{})}
	if w == nil {
		close(p.donec)
		return p
	}
	go p.run()
	return p
}

func (p *progress) Add(n int) { p.done.Add(int64(n)) }

func (p *progress) Increment() { p.done.Add(1) }

func (p *progress) run() {
	defer close(p.donec)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.draw()
		case <-p.stopc:
			p.draw()
			fmt.Fprintln(p.w)
			return
		}
	}
}

func (p *progress) draw() {
	done := p.done.Load()
	frac := 1.0
	if p.total > 0 {
		frac = min(float64(done)/float64(p.total), 1)
	}
	filled := int(frac * progressWidth)
	bar := strings.Repeat("=", filled)
	if filled < progressWidth {
		bar += ">" + strings.Repeat(" ", progressWidth-filled-1)
	}
	fmt.Fprintf(p.w, "\r%d / %d [%s] %.2f%% %s", done, p.total, bar, frac*100, time.Since(p.start).Round(time.Second))
}

// Finish draws the final state and ends the redraws.
func (p *progress) Finish() {
	p.stopOnce.Do(func() { close(p.stopc) })
	<-p.donec
}
