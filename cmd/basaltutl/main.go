// Command basaltutl is the offline tool of basalt data dirs and snapshots:
// etcdutl's commands, flags and output. See package utl.
package main

import (
	"os"

	"github.com/basaltkv/basalt/utl"
)

func main() {
	os.Exit(utl.Main(os.Args[0], os.Args[1:], os.Stdout, os.Stderr))
}
