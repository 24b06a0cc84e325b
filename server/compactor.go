package server

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// compactor compacts the history on the schedule of
// --auto-compaction-mode and --auto-compaction-retention, on the leader
// only, as etcd's: it proposes compactions as a client would.
type compactor struct {
	lg       *zap.Logger
	isLeader func() bool
	rev      func() int64
	compact  func(rev int64) error
}

// run compacts until stopping closes; a retention of "" or "0" is off.
func (c *compactor) run(mode, retention string, stopping <-chan struct{}) {
	if retention == "" || retention == "0" {
		return
	}
	var sched interface{ tick(c *compactor) }
	var every time.Duration
	switch mode {
	case "revision":
		keep, err := strconv.ParseInt(retention, 10, 64)
		if err != nil || keep <= 0 {
			return
		}
		sched, every = &byRevision{keep: keep}, revisionCompactionInterval()
	default:
		period, err := ParseRetention(retention)
		if err != nil || period <= 0 {
			return
		}
		// Samples every period/10, at least a second apart.
		every = max(period/10, time.Second)
		sched = &periodic{period: period, need: int(period / every)}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			sched.tick(c)
		case <-stopping:
			return
		}
	}
}

// ParseRetention reads a periodic retention: a duration, or a number of
// hours, as etcd accepts.
func ParseRetention(s string) (time.Duration, error) {
	if h, err := strconv.Atoi(s); err == nil {
		return time.Duration(h) * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid auto compaction retention %q: %w", s, err)
	}
	return d, nil
}

// revisionCompactionInterval is how often the revision compactor looks:
// five minutes, as in etcd, which has no flag for it. End-to-end tests
// shorten it with BASALT_TEST_REVISION_COMPACTION_INTERVAL (a duration)
// rather than wait five minutes.
func revisionCompactionInterval() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BASALT_TEST_REVISION_COMPACTION_INTERVAL")); err == nil && d > 0 {
		return d
	}
	return 5 * time.Minute
}

// byRevision keeps the last keep revisions: at each tick, on the leader,
// it compacts to keep revisions before the current one, once per revision.
type byRevision struct {
	keep, last int64
}

func (b *byRevision) tick(c *compactor) {
	if !c.isLeader() {
		return
	}
	rev := c.rev() - b.keep
	if rev <= 0 || rev == b.last {
		return
	}
	c.lg.Info("starting auto revision compaction", zap.Int64("revision", rev), zap.Int64("revision-compaction-retention", b.keep))
	if err := c.compact(rev); err != nil {
		c.lg.Warn("failed auto revision compaction", zap.Int64("revision", rev), zap.Int64("revision-compaction-retention", b.keep), zap.Error(err))
		return
	}
	c.lg.Info("completed auto revision compaction", zap.Int64("revision", rev), zap.Int64("revision-compaction-retention", b.keep))
	b.last = rev
}

// periodic keeps the history of the last period: it samples the revision
// at each tick and, on the leader, compacts to the sample taken need
// ticks (a period) ago, never twice to one revision.
type periodic struct {
	period  time.Duration
	need    int
	samples []int64
	last    int64
}

func (p *periodic) tick(c *compactor) {
	p.samples = append(p.samples, c.rev())
	if len(p.samples) <= p.need {
		return
	}
	rev := p.samples[0]
	p.samples = p.samples[1:]
	if !c.isLeader() || rev <= p.last {
		return
	}
	c.lg.Info("starting auto periodic compaction", zap.Int64("revision", rev), zap.Duration("compact-period", p.period))
	if err := c.compact(rev); err != nil {
		c.lg.Warn("failed auto periodic compaction", zap.Int64("revision", rev), zap.Duration("compact-period", p.period), zap.Error(err))
		return
	}
	c.lg.Info("completed auto periodic compaction", zap.Int64("revision", rev), zap.Duration("compact-period", p.period))
	p.last = rev
}
