package tlsutil

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
)

// loadCRL reads a certificate revocation list, PEM or DER.
func loadCRL(file string) (*x509.RevocationList, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CRL file: %w", err)
	}
	if block, _ := pem.Decode(data); block != nil {
		data = block.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("parse CRL file %s: %w", file, err)
	}
	return crl, nil
}

// checkRevoked reads the CRL file (so that an updated list takes effect
// at the next handshake) and refuses any certificate of the chain whose
// serial number it lists.
func checkRevoked(file string, certs []*x509.Certificate) error {
	crl, err := loadCRL(file)
	if err != nil {
		return err
	}
	revoked := make(map[string]bool, len(crl.RevokedCertificateEntries))
	for _, e := range crl.RevokedCertificateEntries {
		revoked[serialKey(e.SerialNumber)] = true
	}
	for _, c := range certs {
		if revoked[serialKey(c.SerialNumber)] {
			return fmt.Errorf("transport: certificate serial %x revoked", c.SerialNumber.Bytes())
		}
	}
	return nil
}

func serialKey(n *big.Int) string {
	if n == nil {
		return ""
	}
	return string(n.Bytes())
}
