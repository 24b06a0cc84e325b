// Package v2client is a client of etcd's v2 HTTP API: the keys API
// (/v2/keys), membership (/v2/members), v2 auth (/v2/auth), statistics
// (/v2/stats), /health and /version.
//
// It behaves as etcd's own v2 client (go.etcd.io/etcd/client/v2) where a
// caller can see it, so that basaltctl under ETCDCTL_API=2 prints what
// etcdctl 3.4 prints:
//
//   - requests go to the endpoints in turn, starting with the last one that
//     answered; a transport error or a 5xx answer moves on to the next, and
//     when all fail the error is a *ClusterError listing each one's failure.
//     A create (prevExist=false) and a delete are tried on one endpoint only,
//     as they are not idempotent;
//   - each request but a wait (watch) must see the response headers within
//     Config.HeaderTimeout;
//   - keys API failures are *Error, decoded from etcd's error body
//     (errorCode, message, cause, index); membership and auth failures are
//     *StatusError; X-Etcd-Index is Response.Index;
//   - query parameters are sent sorted by name, as url.Values encodes them,
//     so a request logged by Config.CURLDebug reads as etcd's client logs it.
//
// Response and Node marshal to JSON as etcd's client types do (etcdctl's
// json output is that marshalling).
package v2client
