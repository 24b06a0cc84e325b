// Package ctl is basaltctl: the command-line client that behaves as
// etcdctl v3 does. Commands, flags, ETCDCTL_* environment variables, output
// formats (simple, json, fields, protobuf, table), error messages and exit
// codes are etcdctl's, so that scripts written against etcdctl run
// unchanged against basalt.
//
// The package is organised by command group (kv.go, txn.go, watch.go,
// lease.go, cluster.go, member.go, maintenance.go, downgrade.go,
// concurrency.go, mirror.go, check.go, user.go, role.go, auth.go) over
// three shared parts: global.go turns the global flags into a clientv3
// configuration, printer*.go render responses, and exit.go carries exit
// codes back to Main, which is the only place the process's fate is
// decided.
//
// Two variables shorten "check" runs for tests and are not meant for
// users (etcdctl has neither): BASALT_CTL_CHECK_DURATION (a Go duration)
// replaces "check perf"'s 60 s, and BASALT_CTL_CHECK_DATASCALE_KEYS (a
// count) replaces the number of key-value pairs "check datascale" writes.
package ctl
