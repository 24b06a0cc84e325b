package main

import (
	"fmt"
	"math"
	"strings"
)

// measurement is one benchmark run's result. Latencies in seconds.
type measurement struct {
	rps, p50, p99 float64
	errors        int
	failed        bool
}

// row is one workload on one cluster size, over every round.
type row struct {
	members      int
	workload     string
	etcd, basalt []measurement
}

// gauge is one scalar measured once per server (RSS, restart time).
type gauge struct {
	members      int
	name         string
	etcd, basalt float64 // NaN when it could not be measured
	format       func(float64) string
}

// mean of the successful runs' field, NaN if none succeeded.
func mean(ms []measurement, field func(measurement) float64) float64 {
	var sum float64
	n := 0
	for _, m := range ms {
		if !m.failed {
			sum += field(m)
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

func ratio(basalt, etcd float64) string {
	if math.IsNaN(basalt) || math.IsNaN(etcd) || etcd == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", basalt/etcd)
}

func fmtRPS(v float64) string {
	if math.IsNaN(v) {
		return "fail"
	}
	return thousands(int(math.Round(v)))
}

func fmtMillis(v float64) string {
	if math.IsNaN(v) {
		return "fail"
	}
	return fmt.Sprintf("%.2f", v*1000)
}

func fmtMiB(v float64) string {
	if math.IsNaN(v) {
		return "fail"
	}
	return fmt.Sprintf("%.1f", v/(1<<20))
}

func fmtSeconds(v float64) string {
	if math.IsNaN(v) {
		return "fail"
	}
	return fmt.Sprintf("%.2f", v)
}

// renderTables prints the workload table and the gauge table in markdown,
// with notes on failed runs and request errors.
func renderTables(rows []row, gauges []gauge) string {
	var b strings.Builder
	b.WriteString("| members | workload | etcd req/s | basalt req/s | basalt/etcd | etcd p50 ms | basalt p50 ms | basalt/etcd | etcd p99 ms | basalt p99 ms | basalt/etcd |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var notes []string
	for _, r := range rows {
		rps := func(m measurement) float64 { return m.rps }
		p50 := func(m measurement) float64 { return m.p50 }
		p99 := func(m measurement) float64 { return m.p99 }
		er, br := mean(r.etcd, rps), mean(r.basalt, rps)
		e50, b50 := mean(r.etcd, p50), mean(r.basalt, p50)
		e99, b99 := mean(r.etcd, p99), mean(r.basalt, p99)
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.members, r.workload, fmtRPS(er), fmtRPS(br), ratio(br, er),
			fmtMillis(e50), fmtMillis(b50), ratio(b50, e50), fmtMillis(e99), fmtMillis(b99), ratio(b99, e99))
		for _, side := range []struct {
			name string
			ms   []measurement
		}{{"etcd", r.etcd}, {"basalt", r.basalt}} {
			failed, errs := 0, 0
			for _, m := range side.ms {
				if m.failed {
					failed++
				}
				errs += m.errors
			}
			if failed > 0 {
				notes = append(notes, fmt.Sprintf("%d member(s), %s: %d of %d %s runs failed", r.members, r.workload, failed, len(side.ms), side.name))
			}
			if errs > 0 {
				notes = append(notes, fmt.Sprintf("%d member(s), %s: %s answered %d requests with errors", r.members, r.workload, side.name, errs))
			}
		}
	}
	if len(gauges) > 0 {
		b.WriteString("\n| members | measure | etcd | basalt | basalt/etcd |\n")
		b.WriteString("|---:|---|---:|---:|---:|\n")
		for _, g := range gauges {
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", g.members, g.name, g.format(g.etcd), g.format(g.basalt), ratio(g.basalt, g.etcd))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}
