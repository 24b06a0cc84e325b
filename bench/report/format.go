package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// PercentileRanks are the percentiles a summary lists.
var PercentileRanks = []float64{10, 25, 50, 75, 90, 95, 99, 99.9}

// histogramBuckets is the number of equal-width buckets between the
// fastest and the slowest request; the histogram adds one for the slowest.
const histogramBuckets = 10

// barWidth is the length of the histogram's longest bar.
const barWidth = 40

const barChar = "∎"

// Percentile is the nearest-rank p-th percentile of sorted: the element at
// index ⌈p·n/100⌉, the first whose rank reaches p (the last element when
// that index is past the end). It is 0 for an empty slice.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(p * float64(n) / 100))
	// Guard against p·n/100 landing a hair above an integer.
	if i > 0 && float64(i-1)*100/float64(n) >= p {
		i--
	}
	return sorted[min(i, n-1)]
}

// Bucket is one line of the histogram: Count latencies in (previous
// bucket's Upper, Upper].
type Bucket struct {
	Upper float64
	Count int
}

// Histogram splits sorted latencies into histogramBuckets equal-width
// buckets from the fastest to the slowest, plus a last bucket ending at
// the slowest.
func Histogram(sorted []float64) []Bucket {
	if len(sorted) == 0 {
		return nil
	}
	fastest, slowest := sorted[0], sorted[len(sorted)-1]
	width := (slowest - fastest) / histogramBuckets
	bs := make([]Bucket, histogramBuckets+1)
	for i := range histogramBuckets {
		bs[i].Upper = fastest + width*float64(i)
	}
	bs[histogramBuckets].Upper = slowest
	b := 0
	for _, l := range sorted {
		for l > bs[b].Upper && b < len(bs)-1 {
			b++
		}
		bs[b].Count++
	}
	return bs
}

// Format prints s as etcd's benchmark does.
func Format(s Stats, opts Options) string {
	f := floatFormat(opts.Precise)
	secs := func(v float64) string { return fmt.Sprintf(f+" secs", v) }
	var b strings.Builder
	if len(s.Lats) > 0 {
		b.WriteString("\nSummary:\n")
		fmt.Fprintf(&b, "  Total:\t%s.\n", secs(s.Total.Seconds()))
		fmt.Fprintf(&b, "  Slowest:\t%s.\n", secs(s.Slowest))
		fmt.Fprintf(&b, "  Fastest:\t%s.\n", secs(s.Fastest))
		fmt.Fprintf(&b, "  Average:\t%s.\n", secs(s.Average))
		fmt.Fprintf(&b, "  Stddev:\t%s.\n", secs(s.Stddev))
		fmt.Fprintf(&b, "  Requests/sec:\t"+f+"\n", s.RPS)

		b.WriteString("\nResponse time histogram:\n")
		hist := Histogram(s.Lats)
		most := 0
		for _, h := range hist {
			most = max(most, h.Count)
		}
		for _, h := range hist {
			bar := 0
			if most > 0 {
				bar = h.Count * barWidth / most
			}
			fmt.Fprintf(&b, "  "+f+" [%d]\t|%s\n", h.Upper, h.Count, strings.Repeat(barChar, bar))
		}

		b.WriteString("\nLatency distribution:\n")
		for _, p := range PercentileRanks {
			fmt.Fprintf(&b, "  %s%% in %s.\n", strconv.FormatFloat(p, 'f', -1, 64), secs(Percentile(s.Lats, p)))
		}
		if s.TimeSeries != nil {
			b.WriteString(s.TimeSeries.String())
			b.WriteString("\n")
		}
	}
	if len(s.ErrorDist) > 0 {
		b.WriteString("\nError distribution:\n")
		type errCount struct {
			msg string
			n   int
		}
		var errs []errCount
		for msg, n := range s.ErrorDist {
			errs = append(errs, errCount{msg, n})
		}
		slices.SortFunc(errs, func(a, b errCount) int {
			return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.msg, b.msg))
		})
		for _, e := range errs {
			fmt.Fprintf(&b, "  [%d]\t%s\n", e.n, e.msg)
		}
	}
	return b.String()
}

func floatFormat(precise bool) string {
	if precise {
		return "%g"
	}
	return "%4.4f"
}
