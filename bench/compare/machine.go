package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// describeMachine is the report's header: where and how it was measured.
func describeMachine(o options) string {
	var b strings.Builder
	b.WriteString("# basalt vs etcd: side-by-side benchmark\n\n")
	fmt.Fprintf(&b, "Measured %s with `go run ./bench/compare` (scale %s, %d rounds per server and workload, alternating etcd and basalt).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), o.scale.name, o.scale.rounds)
	fmt.Fprintf(&b, "- CPUs: %d (`nproc`), %s\n", runtime.NumCPU(), cpuModel())
	fmt.Fprintf(&b, "- kernel: %s\n", strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")))
	fmt.Fprintf(&b, "- Go: %s\n", firstLine(command("go", "version")))
	fmt.Fprintf(&b, "- etcd: %s (%s)\n", firstLine(command(o.etcdBin, "--version")), o.etcdBin)
	fmt.Fprintf(&b, "- basalt: %s\n", lineWith(command(o.basaltBin, "--version"), "basalt Version"))
	fmt.Fprintf(&b, "- both servers: identical flags, `--snapshot-count %s`, data dirs on one filesystem, 127.0.0.1\n", o.snapshotCount)
	b.WriteString("- keys 8 bytes, values 256 bytes; 1,000 clients share 100 connections; 1-client runs target the leader; a 3-member cluster leads from its first member\n")
	b.WriteString("- req/s, p50 and p99 are means over the rounds; watch-latency reports the watch events' latency and rate\n")
	return b.String()
}

func cpuModel() string {
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if name, val, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(val)
		}
	}
	return "unknown CPU"
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return string(b)
}

func command(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unknown"
	}
	return string(out)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// lineWith is the first line of s containing sub, else its first line.
func lineWith(s, sub string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			return strings.TrimSpace(line)
		}
	}
	return firstLine(s)
}
