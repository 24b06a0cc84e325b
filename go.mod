module github.com/basaltkv/basalt

go 1.26.0

require (
	github.com/gogo/protobuf v1.3.2
	github.com/google/btree v1.1.3
	go.etcd.io/bbolt v1.4.3
	go.etcd.io/etcd/api/v3 v3.7.3
	google.golang.org/protobuf v1.36.11
)

require golang.org/x/sys v0.49.0 // indirect
