module github.com/basaltkv/basalt

go 1.26

require github.com/gogo/protobuf v1.3.2 // indirect
