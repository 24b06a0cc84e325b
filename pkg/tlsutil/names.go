package tlsutil

import (
	"crypto/tls"
	"fmt"
)

// TLS versions accepted by --tls-min-version and --tls-max-version. The
// empty string lets Go choose.
const (
	VersionDefault = ""
	Version12      = "TLS1.2"
	Version13      = "TLS1.3"
)

// ParseVersion maps etcd's TLS version names to crypto/tls constants; ""
// is 0 (Go's default).
func ParseVersion(s string) (uint16, error) {
	switch s {
	case VersionDefault:
		return 0, nil
	case Version12:
		return tls.VersionTLS12, nil
	case Version13:
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("unexpected TLS version %q (must be one of: TLS1.2, TLS1.3)", s)
}

// legacyCipherNames are names etcd has accepted since before Go renamed
// the ChaCha20 suites.
var legacyCipherNames = map[string]uint16{
	"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
}

// CipherSuite returns the ID of a cipher suite named as crypto/tls names
// it (secure or insecure), or by one of the legacy names etcd accepts.
func CipherSuite(name string) (uint16, bool) {
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, c := range list {
			if c.Name == name {
				return c.ID, true
			}
		}
	}
	id, ok := legacyCipherNames[name]
	return id, ok
}

// CipherSuites maps --cipher-suites names to IDs, keeping their order.
func CipherSuites(names []string) ([]uint16, error) {
	ids := make([]uint16, 0, len(names))
	for _, n := range names {
		id, ok := CipherSuite(n)
		if !ok {
			return nil, fmt.Errorf("unexpected TLS cipher suite %q", n)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
