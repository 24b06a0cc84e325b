package report

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	seq := func(n int) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = float64(i + 1)
		}
		return s
	}
	tests := []struct {
		name string
		lats []float64
		p    float64
		want float64
	}{
		{"empty", nil, 50, 0},
		{"one", []float64{7}, 99.9, 7},
		{"one at 10", []float64{7}, 10, 7},
		{"two at 50", []float64{1, 2}, 50, 2},
		{"two at 10", []float64{1, 2}, 10, 2},
		{"100 at 99: the one slow request of 100", append(make([]float64, 99), 1), 99, 1},
		{"1000 at 99.9: the one slow request of 1000", append(make([]float64, 999), 1), 99.9, 1},
		{"1000 at 99 misses it", append(make([]float64, 999), 1), 99, 0},
		{"seq 1000 at 50", seq(1000), 50, 501},
		{"seq 1000 at 10", seq(1000), 10, 101},
		{"seq 1000 at 99.9", seq(1000), 99.9, 1000},
		{"seq 10 at 95", seq(10), 95, 10},
		{"seq 10 at 90", seq(10), 90, 10},
		{"seq 10 at 75", seq(10), 75, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.lats, tt.p); got != tt.want {
				t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	tests := []struct {
		name   string
		lats   []float64
		counts []int
		uppers []float64
	}{
		{"empty", nil, nil, nil},
		{"all equal land in the first bucket", []float64{2, 2, 2},
			[]int{3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			[]float64{2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}},
		{"spread", []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
			[]int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
			[]float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"bucket bounds are inclusive", []float64{0, 0.5, 1, 10},
			[]int{1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			[]float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Histogram(tt.lats)
			var counts []int
			var uppers []float64
			for _, b := range h {
				counts = append(counts, b.Count)
				uppers = append(uppers, b.Upper)
			}
			if !reflect.DeepEqual(counts, tt.counts) {
				t.Errorf("counts = %v, want %v", counts, tt.counts)
			}
			for i := range uppers {
				if math.Abs(uppers[i]-tt.uppers[i]) > 1e-9 {
					t.Errorf("uppers = %v, want %v", uppers, tt.uppers)
					break
				}
			}
		})
	}
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name  string
		lats  []float64
		total time.Duration
		want  Stats
	}{
		{"none", nil, time.Second, Stats{Total: time.Second, ErrorDist: map[string]int{}}},
		{"uniform", []float64{1, 1, 1, 1}, 2 * time.Second, Stats{
			Total: 2 * time.Second, Fastest: 1, Slowest: 1, Average: 1, Stddev: 0, RPS: 2,
			Lats: []float64{1, 1, 1, 1}, ErrorDist: map[string]int{},
		}},
		{"sorted and spread", []float64{3, 1, 2}, time.Second, Stats{
			Total: time.Second, Fastest: 1, Slowest: 3, Average: 2, Stddev: math.Sqrt(2.0 / 3), RPS: 3,
			Lats: []float64{1, 2, 3}, ErrorDist: map[string]int{},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compute(tt.lats, tt.total); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// fakeClock returns start, then start+step, start+2·step, ...
func fakeClock(start time.Time, step time.Duration) func() time.Time {
	n := 0
	return func() time.Time {
		t := start.Add(time.Duration(n) * step)
		n++
		return t
	}
}

func TestReportCollects(t *testing.T) {
	base := time.Unix(1000, 0)
	tests := []struct {
		name    string
		opts    Options
		results []Result
		want    Stats
	}{
		{
			name: "plain with an error",
			results: []Result{
				{Start: base, End: base.Add(time.Second)},
				{Start: base, End: base.Add(3 * time.Second)},
				{Start: base, End: base.Add(time.Second), Err: errors.New("oops")},
			},
			want: Stats{Total: 2 * time.Second, Fastest: 1, Slowest: 3, Average: 2, Stddev: 1, RPS: 1,
				Lats: []float64{1, 3}, ErrorDist: map[string]int{"oops": 1}},
		},
		{
			name: "weighted",
			opts: Options{Weighted: true},
			results: []Result{
				{Start: base, End: base.Add(time.Second), Weight: 4},
				{Start: base, End: base.Add(time.Second), Weight: 4},
			},
			want: Stats{Total: 2 * time.Second, Fastest: 0.25, Slowest: 0.25, Average: 0.25, RPS: 4,
				Lats: []float64{0.25, 0.25}, ErrorDist: map[string]int{}},
		},
		{
			name: "sampled",
			opts: Options{Sample: true},
			results: []Result{
				{Start: base, End: base.Add(time.Second)},
				{Start: base.Add(500 * time.Millisecond), End: base.Add(time.Second)},
				{Start: base.Add(2 * time.Second), End: base.Add(4 * time.Second)},
			},
			want: Stats{Total: 2 * time.Second, Fastest: 0.5, Slowest: 2, Average: 3.5 / 3,
				Stddev: math.Sqrt(((0.5-3.5/3)*(0.5-3.5/3) + (1-3.5/3)*(1-3.5/3) + (2-3.5/3)*(2-3.5/3)) / 3),
				RPS:    1.5, Lats: []float64{0.5, 1, 2}, ErrorDist: map[string]int{},
				TimeSeries: TimeSeries{
					{Timestamp: 1000, MinLatency: 500 * time.Millisecond, AvgLatency: 750 * time.Millisecond, MaxLatency: time.Second, Throughput: 2},
					{Timestamp: 1001},
					{Timestamp: 1002, MinLatency: 2 * time.Second, AvgLatency: 2 * time.Second, MaxLatency: 2 * time.Second, Throughput: 1},
				}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.opts)
			r.now = fakeClock(base, 2*time.Second)
			statsc := r.Stats()
			for _, res := range tt.results {
				r.Results() <- res
			}
			close(r.Results())
			got := <-statsc
			if math.Abs(got.Stddev-tt.want.Stddev) < 1e-12 {
				got.Stddev = tt.want.Stddev
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	// Whole seconds keep the bucket bounds exact.
	lats := []float64{1, 2, 2, 4, 11}
	s := Compute(lats, 2*time.Second)
	s.ErrorDist = map[string]int{"b failed": 1, "a failed": 1, "c failed": 5}
	want := "\nSummary:\n" +
		"  Total:\t2.0000 secs.\n" +
		"  Slowest:\t11.0000 secs.\n" +
		"  Fastest:\t1.0000 secs.\n" +
		"  Average:\t4.0000 secs.\n" +
		"  Stddev:\t3.6332 secs.\n" +
		"  Requests/sec:\t2.5000\n" +
		"\nResponse time histogram:\n" +
		"  1.0000 [1]\t|∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎\n" +
		"  2.0000 [2]\t|∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎\n" +
		"  3.0000 [0]\t|\n" +
		"  4.0000 [1]\t|∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎\n" +
		"  5.0000 [0]\t|\n" +
		"  6.0000 [0]\t|\n" +
		"  7.0000 [0]\t|\n" +
		"  8.0000 [0]\t|\n" +
		"  9.0000 [0]\t|\n" +
		"  10.0000 [0]\t|\n" +
		"  11.0000 [1]\t|∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎\n" +
		"\nLatency distribution:\n" +
		"  10% in 2.0000 secs.\n" +
		"  25% in 2.0000 secs.\n" +
		"  50% in 4.0000 secs.\n" +
		"  75% in 11.0000 secs.\n" +
		"  90% in 11.0000 secs.\n" +
		"  95% in 11.0000 secs.\n" +
		"  99% in 11.0000 secs.\n" +
		"  99.9% in 11.0000 secs.\n" +
		"\nError distribution:\n" +
		"  [5]\tc failed\n" +
		"  [1]\ta failed\n" +
		"  [1]\tb failed\n"
	got := Format(s, Options{})
	if got != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}

	precise := Format(Compute([]float64{0.5}, time.Second), Options{Precise: true})
	for _, line := range []string{"  Total:\t1 secs.\n", "  Requests/sec:\t1\n", "  0.5 [1]\t|", "  99.9% in 0.5 secs.\n"} {
		if !strings.Contains(precise, line) {
			t.Errorf("precise output lacks %q:\n%s", line, precise)
		}
	}

	if got := Format(Stats{ErrorDist: map[string]int{}}, Options{}); got != "" {
		t.Errorf("empty stats printed %q", got)
	}
}

func TestParseRoundTrip(t *testing.T) {
	lats := []float64{0.001, 0.002, 0.002, 0.004, 0.011}
	s := Compute(lats, 2*time.Second)
	s.ErrorDist = map[string]int{"etcdserver: request timed out": 2}
	out := "bench with linearizable range\n" + Format(s, Options{Precise: true}) +
		"\nWatch events summary:\n" + Format(Compute([]float64{0.25}, time.Second), Options{})

	all, err := ParseAll(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("parsed %d summaries, want 2", len(all))
	}
	first := all[0]
	if first.Total != 2 || first.Slowest != 0.011 || first.Fastest != 0.001 || first.RPS != 2.5 {
		t.Errorf("first summary fields: %+v", first)
	}
	if len(first.Histogram) != 11 || first.Histogram[1].Count != 2 {
		t.Errorf("first histogram: %+v", first.Histogram)
	}
	if first.Percentiles[50] != 0.004 || first.Percentiles[99.9] != 0.011 || len(first.Percentiles) != len(PercentileRanks) {
		t.Errorf("first percentiles: %v", first.Percentiles)
	}
	if first.Errors["etcdserver: request timed out"] != 2 {
		t.Errorf("first errors: %v", first.Errors)
	}
	second := all[1]
	if second.Title != "Watch events summary:" || second.RPS != 1 || second.Percentiles[99] != 0.25 {
		t.Errorf("second summary: %+v", second)
	}

	if _, err := ParseSummary("nothing here\n"); !errors.Is(err, ErrNoSummary) {
		t.Errorf("ParseSummary of no summary: %v", err)
	}
	onlyErrors, err := ParseSummary(Format(Stats{ErrorDist: map[string]int{"boom": 3}}, Options{}))
	if err != nil || onlyErrors.Errors["boom"] != 3 {
		t.Errorf("errors-only output: %+v, %v", onlyErrors, err)
	}
	if _, err := ParseAll("\nSummary:\n  Total:\tabc secs.\n"); err == nil {
		t.Error("a malformed total parsed")
	}
}

func TestTimeSeriesString(t *testing.T) {
	ts := TimeSeries{{Timestamp: 5, MinLatency: time.Millisecond, AvgLatency: 2 * time.Millisecond, MaxLatency: 3 * time.Millisecond, Throughput: 7}}
	want := "\nSample in one second (unix latency throughput):\n" +
		"UNIX-SECOND,MIN-LATENCY-MS,AVG-LATENCY-MS,MAX-LATENCY-MS,AVG-THROUGHPUT\n" +
		"5,1ms,2ms,3ms,7\n"
	if got := ts.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
