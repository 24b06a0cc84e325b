package lease

import (
	"errors"
	"testing"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// TestMetrics: grants (with their TTL raised to the minimum), renewals
// on the primary and revocations are counted once each; failed calls are
// not.
func TestMetrics(t *testing.T) {
	le, _ := newTestLessor(t, Config{MinLeaseTTL: 5})
	tx := newFakeTx()
	read := func() (granted, revoked, renewed float64, ttls *dto.Histogram) {
		var m dto.Metric
		if err := ttlHist.Write(&m); err != nil {
			t.Fatal(err)
		}
		return promtest.ToFloat64(grantedCounter), promtest.ToFloat64(revokedCounter), promtest.ToFloat64(renewedCounter), m.GetHistogram()
	}
	g0, v0, r0, h0 := read()

	mustGrant(t, le, tx, 1, 1)
	mustGrant(t, le, tx, 2, 100)
	if _, err := le.Grant(tx, 2, 100); err == nil {
		t.Fatal("granted lease 2 twice")
	}
	if _, err := le.Renew(1); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("renew on a lessor not primary: %v", err)
	}
	le.Promote(0)
	if _, err := le.Renew(1); err != nil {
		t.Fatal(err)
	}
	if err := le.Revoke(tx, 2); err != nil {
		t.Fatal(err)
	}
	if err := le.Revoke(tx, 2); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}

	g, v, r, h := read()
	if g-g0 != 2 || v-v0 != 1 || r-r0 != 1 {
		t.Errorf("granted +%v, revoked +%v, renewed +%v; want +2, +1, +1", g-g0, v-v0, r-r0)
	}
	if n := h.GetSampleCount() - h0.GetSampleCount(); n != 2 {
		t.Errorf("%d TTLs observed, want 2", n)
	}
	if sum := h.GetSampleSum() - h0.GetSampleSum(); sum != 5+100 {
		t.Errorf("TTLs observed sum to %v, want 105 (the first raised to the minimum, 5)", sum)
	}
}
