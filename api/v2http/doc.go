// Package v2http serves etcd's v2 HTTP API on a member's client URLs, as
// etcd 3.4 does with --enable-v2: /v2/keys (the v2 store through the
// member), /v2/members, /v2/machines, /v2/stats and /v2/auth (whose
// state and checks are package v2auth's). Requests, responses,
// headers, status codes and error bodies are etcd 3.4's, byte for byte
// but for indexes, times and IDs.
package v2http
