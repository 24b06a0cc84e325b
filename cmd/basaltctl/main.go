// Command basaltctl is the command-line client of basalt: etcdctl v3's
// commands, flags and output. See package ctl.
package main

import (
	"os"

	"github.com/basaltkv/basalt/ctl"
)

func main() {
	os.Exit(ctl.Main(os.Args[0], os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
