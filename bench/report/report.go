// Package report turns the latencies of a benchmark's requests into the
// summary etcd's benchmark tool prints: totals, a 10-bucket response time
// histogram, latency percentiles, an error distribution and, on request, a
// per-second time series. ParseSummary reads that text back.
package report

import (
	"math"
	"slices"
	"time"
)

// Result is the outcome of one request.
type Result struct {
	Start, End time.Time
	Err        error
	// Weight is the number of operations the request stands for (0 means
	// 1); it matters only to a weighted report.
	Weight float64
}

// Duration is how long the request took.
func (r Result) Duration() time.Duration { return r.End.Sub(r.Start) }

// Options choose how a report collects and prints.
type Options struct {
	// Precise prints every float with full precision (%g) instead of
	// four decimals (%4.4f).
	Precise bool
	// Sample adds the per-second time series to the summary.
	Sample bool
	// Weighted divides each latency by its result's weight and counts
	// requests per second in weight, for requests that carry several
	// operations.
	Weighted bool
}

// Stats is what a report computed. Latencies are in seconds.
type Stats struct {
	// Total is the time from Run to the closing of Results.
	Total                                  time.Duration
	Fastest, Slowest, Average, Stddev, RPS float64
	// Lats holds every successful request's latency, sorted.
	Lats []float64
	// ErrorDist counts failed requests by error message.
	ErrorDist  map[string]int
	TimeSeries TimeSeries
}

// Report collects results sent on Results until that channel is closed.
type Report struct {
	opts    Options
	results chan Result
	now     func() time.Time
}

// New returns a report; start it with Run or Stats before sending results.
func New(opts Options) *Report {
	return &Report{opts: opts, results: make(chan Result, 1024), now: time.Now}
}

// Results is where the benchmark sends each request's result; closing it
// ends the report.
func (r *Report) Results() chan<- Result { return r.results }

// Run collects results in the background and yields the printed summary
// once Results is closed.
func (r *Report) Run() <-chan string {
	out := make(chan string, 1)
	start := r.now()
	go func() {
		s := r.collect(start)
		out <- Format(s, r.opts)
		close(out)
	}()
	return out
}

// Stats collects results in the background and yields the raw statistics
// once Results is closed.
func (r *Report) Stats() <-chan Stats {
	out := make(chan Stats, 1)
	start := r.now()
	go func() {
		out <- r.collect(start)
		close(out)
	}()
	return out
}

// collect reads results until Results is closed; the report's total time
// runs from start (when Run or Stats was called) to then.
func (r *Report) collect(start time.Time) Stats {
	var (
		lats   []float64
		errs   = map[string]int{}
		weight float64
		series *secondSeries
	)
	if r.opts.Sample {
		series = newSecondSeries()
	}
	for res := range r.results {
		if res.Err != nil {
			errs[res.Err.Error()]++
			continue
		}
		d := res.Duration()
		w := res.Weight
		if w <= 0 {
			w = 1
		}
		weight += w
		if r.opts.Weighted {
			d = time.Duration(float64(d) / w)
		}
		lats = append(lats, d.Seconds())
		if series != nil {
			series.add(res.Start, d)
		}
	}
	total := r.now().Sub(start)
	s := Compute(lats, total)
	s.ErrorDist = errs
	if r.opts.Weighted && total > 0 {
		s.RPS = weight / total.Seconds()
	}
	if series != nil {
		s.TimeSeries = series.series()
	}
	return s
}

// Compute derives the statistics of latencies (seconds, any order; the
// slice is sorted in place) measured over total.
func Compute(lats []float64, total time.Duration) Stats {
	s := Stats{Total: total, Lats: lats, ErrorDist: map[string]int{}}
	if len(lats) == 0 {
		return s
	}
	slices.Sort(lats)
	var sum float64
	for _, l := range lats {
		sum += l
	}
	n := float64(len(lats))
	s.Average = sum / n
	var sq float64
	for _, l := range lats {
		sq += (l - s.Average) * (l - s.Average)
	}
	s.Stddev = math.Sqrt(sq / n)
	s.Fastest, s.Slowest = lats[0], lats[len(lats)-1]
	if total > 0 {
		s.RPS = n / total.Seconds()
	}
	return s
}
