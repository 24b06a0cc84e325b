package report

import (
	"fmt"
	"strings"
	"time"
)

// DataPoint is one second of a benchmark: the latencies of the requests
// that started in it and how many there were.
type DataPoint struct {
	Timestamp                          int64 // Unix seconds
	MinLatency, AvgLatency, MaxLatency time.Duration
	Throughput                         int64
}

// TimeSeries is a benchmark second by second, gaps included as empty
// seconds.
type TimeSeries []DataPoint

// String prints the series as the CSV block of etcd's --sample output.
func (ts TimeSeries) String() string {
	var b strings.Builder
	b.WriteString("\nSample in one second (unix latency throughput):\n")
	b.WriteString("UNIX-SECOND,MIN-LATENCY-MS,AVG-LATENCY-MS,MAX-LATENCY-MS,AVG-THROUGHPUT\n")
	for _, p := range ts {
		fmt.Fprintf(&b, "%d,%s,%s,%s,%d\n", p.Timestamp, p.MinLatency, p.AvgLatency, p.MaxLatency, p.Throughput)
	}
	return b.String()
}

type second struct {
	min, max, sum time.Duration
	count         int64
}

// secondSeries accumulates results by the second they started in. Only
// the report's collector goroutine touches it.
type secondSeries struct {
	seconds map[int64]*second
}

func newSecondSeries() *secondSeries { return &secondSeries{seconds: map[int64]*second{}} }

func (ss *secondSeries) add(start time.Time, lat time.Duration) {
	ts := start.Unix()
	s, ok := ss.seconds[ts]
	if !ok {
		ss.seconds[ts] = &second{min: lat, max: lat, sum: lat, count: 1}
		return
	}
	s.min = min(s.min, lat)
	s.max = max(s.max, lat)
	s.sum += lat
	s.count++
}

func (ss *secondSeries) series() TimeSeries {
	if len(ss.seconds) == 0 {
		return TimeSeries{}
	}
	var first, last int64
	started := false
	for ts := range ss.seconds {
		if !started || ts < first {
			first = ts
		}
		if !started || ts > last {
			last = ts
		}
		started = true
	}
	out := make(TimeSeries, 0, last-first+1)
	for ts := first; ts <= last; ts++ {
		p := DataPoint{Timestamp: ts}
		if s, ok := ss.seconds[ts]; ok {
			p.MinLatency, p.MaxLatency, p.Throughput = s.min, s.max, s.count
			p.AvgLatency = s.sum / time.Duration(s.count)
		}
		out = append(out, p)
	}
	return out
}
