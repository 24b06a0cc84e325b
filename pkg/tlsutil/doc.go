// Package tlsutil builds the TLS configurations of a basalt member from
// etcd's transport security settings (--cert-file, --trusted-ca-file,
// --client-cert-auth, --client-crl-file, --peer-cert-allowed-cn, ...):
// the server side of the client and peer listeners and the client side a
// member uses to dial its peers.
//
// What it promises, as etcd does:
//   - A server that has a trusted CA file, or client-cert-auth, requires
//     and verifies a client certificate.
//   - Certificates are read again at every handshake, so rotating the
//     files on disk takes effect without a restart; a CRL file likewise.
//   - A revoked certificate (by serial number in the CRL file), a
//     certificate whose CN or SAN is not in the allowed lists, and, on
//     peer listeners, a client certificate whose SANs do not match the
//     connecting address, fail the connection.
//   - Self-signed certificates (auto TLS) are generated once per directory
//     and reused on restart; dialers trusting them skip verification, as
//     etcd's do.
//
// Listen wraps a listener so that TLS handshakes run off the Accept path
// and failures are reported to a callback (etcd logs "rejected
// connection on client endpoint" from it).
package tlsutil
