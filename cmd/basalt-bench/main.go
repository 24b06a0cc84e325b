// Command basalt-bench is basalt's load generator: etcd's benchmark tool
// (put, range, txn-put, txn-mixed, watch, watch-get, watch-latency,
// lease-keepalive, stm, mvcc). See package bench.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/basaltkv/basalt/bench/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
