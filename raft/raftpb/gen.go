package raftpb

// Regenerating raft.pb.go needs protoc (Debian: protobuf-compiler) and
// protoc-gen-gogofaster (go install github.com/gogo/protobuf/protoc-gen-gogofaster@v1.3.2).
//go:generate sh -c "protoc -I . -I $(go env GOMODCACHE)/github.com/gogo/protobuf@v1.3.2 -I $(go env GOMODCACHE)/github.com/gogo/protobuf@v1.3.2/protobuf --gogofaster_out=paths=source_relative:. raft.proto"
