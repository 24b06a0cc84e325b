// Package rafthttp carries raft messages between members over their peer
// URLs: between basalt members in basalt's own protocol, described first,
// and with etcd members (and any member that speaks it) in etcd's, so that
// basalt and etcd 3.x members form one cluster (see "etcd's protocol").
//
// Each member keeps, for every peer, one long-lived outbound message stream
// and opens a separate HTTP request for every snapshot, so a database of
// gigabytes never delays a heartbeat. All traffic is HTTP/1.1 (over TLS
// when a peer URL is https): every stream and every snapshot has a TCP
// connection of its own, so neither shares a connection, a send buffer or
// a flow-control window with the other.
//
// # Headers
//
// Every request carries
//
//	X-Server-From       the sender's member ID, hexadecimal
//	X-Etcd-Cluster-ID   the sender's cluster ID, hexadecimal
//	X-Server-Version    the etcd version the sender implements
//	X-Raft-To           the member ID the sender means to reach (streams, snapshots)
//
// and every response carries the receiver's X-Etcd-Cluster-ID and
// X-Server-Version. The receiver refuses a request with
//
//	412 Precondition Failed  body "cluster ID mismatch" or "to field mismatch"
//	410 Gone                 body "removed member": the sender was removed from the cluster
//	404 Not Found            body "error sender not found": a stream from a member not (yet) a peer
//	400 Bad Request          missing or malformed X-Server-From, or a malformed body
//	503 Service Unavailable  the transport is stopped
//
// A member that is answered 410 has been removed: it stops dialing that
// peer and closes Transport.Removed so that the member can stop itself.
// On 412 it logs the mismatch and keeps retrying with backoff, since the
// peer may be a member being replaced.
//
// # Message stream: POST /raft/stream
//
// The sender POSTs with a chunked request body that never ends while the
// stream is up. The receiver answers 200 at once and then reads the body
// for as long as the stream lives. The request body is a sequence of frames
//
//	+----------------------+-------------------------------+
//	| length: uint32, BE   | raftpb.Message, length bytes  |
//	+----------------------+-------------------------------+
//
// A frame of length 0 is a keepalive, sent when the stream has been idle
// for a third of the read timeout, and every 50 ms until the answer
// arrives: the HTTP client notices a dead connection only when it writes
// the request body. A marshalled message is never empty because its To
// field is set. Keepalives go between batches, never inside a frame. Frames larger than 512 MiB are refused. The
// sender batches: it drains its queue into a buffer and flushes when the
// queue is empty or a batch is full, so one chunk carries many messages.
//
// The response body (chunked, also endless) carries only keepalive frames,
// four zero bytes, from the receiver. Both ends set a read deadline
// (5 s) on every read and a write deadline on every write, so a peer that
// vanishes without closing its connection is noticed within seconds.
//
// Messages of one stream reach Raft.Process in the order they were given to
// Send. Delivery is not guaranteed: the sender drops messages while the
// stream is down or the peer's queue (4096 messages) is full, and the
// receiver drops them when its delivery queue (4096) is full; raft
// retransmits. Proposals forwarded to the leader (MsgProp) are delivered on
// a queue of their own so that a proposal that waits in Raft.Process does
// not hold up heartbeats.
//
// When a stream breaks, the sender redials after a backoff that starts at
// 100 ms and doubles up to 3 s; it returns to 100 ms after a stream that
// stayed up for a second or more. A newer stream from the same peer
// replaces an older one on the receiving side.
//
// # Snapshots: POST /raft/snapshot
//
// A MsgSnap travels on a request of its own, with a Content-Length:
//
//	+-----------------------+------------------------+
//	| msgLen: uint64, BE    | raftpb.Message MsgSnap |
//	+-----------------------+------------------------+
//	| dbSize: uint64, BE    | database, dbSize bytes |
//	+-----------------------+------------------------+
//	| CRC-32C (Castagnoli) of the database: uint32, BE |
//	+--------------------------------------------------+
//
// The database comes from SnapshotSource.OpenSnapshotDB for the index of
// the message's snapshot. The receiver hands SnapshotSink.SaveSnapshotDB a
// reader of exactly dbSize bytes that checks the checksum: if the body is
// short or the checksum does not match, the reader returns an error
// instead of io.EOF, so a sink that keeps the database only after reading
// to EOF never keeps a corrupt one. Only once the sink has saved the
// database is the MsgSnap given to Raft.Process; the receiver then answers
// 204 No Content, and the sender reports raft.SnapshotFinish. Any other
// outcome is reported as raft.SnapshotFailure.
//
// # Probes: GET /raft/probe
//
// Every 4 s the sender GETs /raft/probe from each peer and records the
// round trip in etcd_network_peer_round_trip_time_seconds. The answer is
// 200 with a small JSON body.
//
// # etcd's protocol
//
// basalt serves etcd's peer endpoints beside its own and speaks them to a
// peer that speaks them: one that answers basalt's POST /raft/stream as
// etcd does (its mux's 307 redirect, 301, 308 or 405), or that dials one
// of etcd's streams here. The switch is for the peer's life (etcd.go);
// basalt members can talk etcd's protocol to one another too, so a
// member that went from etcd to basalt is still understood.
//
//   - GET /raft/stream/message/<sender> and /raft/stream/msgapp/<sender>:
//     the sender's readers. The answer (200, then an endless body) carries
//     what this member sends the sender: on "message" every message as an
//     8-byte big-endian length and the marshalled raftpb.Message; on
//     "msgapp" (etcd's msgappv2) the leader's MsgApps alone, as records of
//     a type byte: 0 link heartbeat, 1 entries of a MsgApp continuing the
//     last one (count, then each entry as a length and its bytes, then the
//     commit index; term, log term and index are implied), 2 any other
//     MsgApp as a length and the message. An idle stream carries a link
//     heartbeat (a MsgHeartbeat from and to 0) every third of the read
//     timeout. MsgApps go on "msgapp" while it is up, the rest on
//     "message"; the reader skips link heartbeats.
//   - This member dials the same two streams at the peer, with
//     X-Server-From, X-Etcd-Cluster-ID, X-Server-Version,
//     X-Min-Cluster-Version and X-Raft-To, redialing every 100 ms when one
//     breaks, and delivers what arrives as from basalt's streams.
//   - POST /raft (the pipeline): one marshalled message per request,
//     answered 204 once Raft.Process took it (403 to a removed member, as
//     etcd answers). etcd sends on it while its streams are down; so does
//     basalt to an etcd peer whose "message" stream is not up (four
//     senders, 64 queued, as etcd).
//   - POST /raft/snapshot: an 8-byte length, the MsgSnap, then the
//     database to the end of the body (HTTP's framing tells a whole body
//     from a cut one); no X-Raft-To. basalt's own snapshots carry
//     X-Basalt-Snapshot-Format, which tells the receiver their framing.
//   - GET /raft/probing: etcd's prober, answered {"OK":true,"Now":...};
//     basalt probes an etcd peer there.
//
// # Calls into the member
//
// Raft's methods are called from the transport's goroutines, never from
// within Send, so Send never waits for the member: ReportUnreachable is
// coalesced per peer and called at most every 100 ms. The member's Raft
// must not block indefinitely once the member is stopping, because Stop
// waits for the goroutines that call it.
package rafthttp
