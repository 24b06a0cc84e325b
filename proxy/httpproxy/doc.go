// Package httpproxy is etcd 3.4's v2 proxy (--proxy on|readonly): a
// reverse HTTP proxy on the client URLs in front of a cluster's client
// URLs. It holds no data; it knows the cluster's peer URLs, asks them for
// the members' client URLs every refresh interval, and sends each request
// to an available endpoint, trying the next one when a request cannot be
// sent; an endpoint that failed is left out for the failure wait.
//
// The peer URLs are kept in <data-dir>/proxy/cluster, etcd's file
// ({"PeerURLs":[...]}), rewritten after every refresh, so that a
// restarted proxy finds the cluster even if its members moved.
//
// In readonly mode every request but GET is refused with 501 and an
// empty body, as etcd's. The proxy's own endpoint,
// /v2/config/local/proxy, lists the available endpoints.
package httpproxy
