package report

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Summary is one summary block read back from a benchmark's output.
// Durations are in seconds.
type Summary struct {
	// Title is the line that introduced the block ("Put summary:"), if
	// any.
	Title                                    string
	Total, Slowest, Fastest, Average, Stddev float64
	RPS                                      float64
	Histogram                                []Bucket
	// Percentiles maps a rank (50, 99, 99.9) to its latency.
	Percentiles map[float64]float64
	// Errors counts failed requests by message.
	Errors map[string]int
}

// ErrNoSummary is returned by ParseSummary for output without a summary.
var ErrNoSummary = errors.New("report: no summary in output")

// ParseSummary reads the first summary block of a benchmark's output.
func ParseSummary(out string) (Summary, error) {
	all, err := ParseAll(out)
	if err != nil {
		return Summary{}, err
	}
	if len(all) == 0 {
		return Summary{}, ErrNoSummary
	}
	return all[0], nil
}

// ParseAll reads every summary block of a benchmark's output, in order.
func ParseAll(out string) ([]Summary, error) {
	var (
		all     []Summary
		cur     *Summary
		section string
		title   string
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for ln := 1; sc.Scan(); ln++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "Summary:":
			all = append(all, Summary{Title: title, Percentiles: map[float64]float64{}, Errors: map[string]int{}})
			cur = &all[len(all)-1]
			section, title = "summary", ""
			continue
		case trimmed == "Response time histogram:" || trimmed == "Latency distribution:" || trimmed == "Error distribution:":
			section = trimmed
			continue
		case trimmed == "":
			continue
		case !strings.HasPrefix(line, "  "):
			// A line of the benchmark's own (a title, a CSV sample block)
			// ends the current section.
			section = ""
			if strings.HasSuffix(trimmed, ":") {
				title = trimmed
			}
			continue
		}
		if cur == nil {
			if section == "Error distribution:" {
				// Every request failed: the output has errors only.
				all = append(all, Summary{Title: title, Percentiles: map[float64]float64{}, Errors: map[string]int{}})
				cur = &all[len(all)-1]
			} else {
				continue
			}
		}
		var err error
		switch section {
		case "summary":
			err = parseSummaryLine(cur, trimmed)
		case "Response time histogram:":
			err = parseHistogramLine(cur, trimmed)
		case "Latency distribution:":
			err = parsePercentileLine(cur, trimmed)
		case "Error distribution:":
			err = parseErrorLine(cur, trimmed)
		}
		if err != nil {
			return nil, fmt.Errorf("report: line %d %q: %w", ln, line, err)
		}
	}
	return all, sc.Err()
}

func parseSeconds(s string) (float64, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	s = strings.TrimSuffix(s, " secs")
	return strconv.ParseFloat(strings.TrimSpace(s), 64)
}

func parseSummaryLine(cur *Summary, line string) error {
	name, val, ok := strings.Cut(line, ":")
	if !ok {
		return errors.New("no colon")
	}
	if name == "Requests/sec" {
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		cur.RPS = v
		return err
	}
	v, err := parseSeconds(val)
	if err != nil {
		return err
	}
	switch name {
	case "Total":
		cur.Total = v
	case "Slowest":
		cur.Slowest = v
	case "Fastest":
		cur.Fastest = v
	case "Average":
		cur.Average = v
	case "Stddev":
		cur.Stddev = v
	default:
		return fmt.Errorf("unknown field %q", name)
	}
	return nil
}

// parseHistogramLine reads "0.0012 [17]\t|∎∎∎".
func parseHistogramLine(cur *Summary, line string) error {
	upper, rest, ok := strings.Cut(line, " [")
	if !ok {
		return errors.New("no count")
	}
	count, _, ok := strings.Cut(rest, "]")
	if !ok {
		return errors.New("unterminated count")
	}
	u, err := strconv.ParseFloat(upper, 64)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		return err
	}
	cur.Histogram = append(cur.Histogram, Bucket{Upper: u, Count: n})
	return nil
}

// parsePercentileLine reads "99.9% in 0.0123 secs.".
func parsePercentileLine(cur *Summary, line string) error {
	rank, val, ok := strings.Cut(line, "% in ")
	if !ok {
		return errors.New("not a percentile")
	}
	p, err := strconv.ParseFloat(rank, 64)
	if err != nil {
		return err
	}
	v, err := parseSeconds(val)
	if err != nil {
		return err
	}
	cur.Percentiles[p] = v
	return nil
}

// parseErrorLine reads "[3]\tmessage".
func parseErrorLine(cur *Summary, line string) error {
	if !strings.HasPrefix(line, "[") {
		return errors.New("not an error count")
	}
	count, msg, ok := strings.Cut(line[1:], "]")
	if !ok {
		return errors.New("unterminated error count")
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		return err
	}
	cur.Errors[strings.TrimSpace(msg)] += n
	return nil
}
