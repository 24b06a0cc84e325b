package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// PrepareMember makes a member named name that is not started yet: its
// ports and an empty data dir. Add it to the cluster (MemberAdd with its
// PeerURL), then start it with Join.
func (c *Cluster) PrepareMember(t testing.TB, name string) *Member {
	t.Helper()
	ports, err := FreePorts(3)
	if err != nil {
		t.Fatalf("e2e: ports for %s: %v", name, err)
	}
	m := &Member{
		Name:          name,
		cluster:       c,
		clientURL:     fmt.Sprintf("%s://127.0.0.1:%d", c.opts.ClientTLS.scheme(), ports[0]),
		listenPeerURL: c.peerURL(ports[1]),
		metricsURL:    fmt.Sprintf("http://127.0.0.1:%d", ports[2]),
		DataDir:       filepath.Join(c.dir, fmt.Sprintf("%s-joined-%d.etcd", name, clusterSeq.Add(1))),
	}
	m.peerURL = m.listenPeerURL
	if c.opts.AdvertisePeerURL != nil {
		if m.peerURL, err = c.opts.AdvertisePeerURL(m.Name, m.listenPeerURL); err != nil {
			t.Fatalf("e2e: advertised peer URL of %s: %v", name, err)
		}
	}
	return m
}

// Join starts m as a member joining the running cluster
// (--initial-cluster-state existing), with an --initial-cluster of the
// cluster's members and m, and waits until it is ready. m becomes one of
// c.Members, also if it fails to start (its output is then reported).
func (c *Cluster) Join(m *Member) error {
	if !slices.Contains(c.Members, m) {
		c.Members = append(c.Members, m)
	}
	m.args = c.memberArgs(m, c.InitialCluster(), "existing")
	return m.TryStart()
}

// StartNew starts m (from PrepareMember) as one more member of a new
// cluster, with the flags a member of c started with (Options.Bootstrap's
// when set), without waiting for it to be ready: a test of what happens
// to a member that comes late. m becomes one of c.Members.
func (c *Cluster) StartNew(m *Member) error {
	if !slices.Contains(c.Members, m) {
		c.Members = append(c.Members, m)
	}
	m.args = c.NewMemberArgs(m)
	return m.start()
}

// InitialCluster is the --initial-cluster of c's members.
func (c *Cluster) InitialCluster() string {
	parts := make([]string, len(c.Members))
	for i, m := range c.Members {
		parts[i] = m.Name + "=" + m.peerURL
	}
	return strings.Join(parts, ",")
}

// Drop takes m out of c.Members (after its MemberRemove), killing its
// process if it still runs.
func (c *Cluster) Drop(m *Member) {
	m.Kill()
	c.Members = slices.DeleteFunc(c.Members, func(x *Member) bool { return x == m })
}

// WipeData deletes a stopped member's data dir, as a failed disk would.
func (m *Member) WipeData() error {
	if p := m.Process(); p != nil && !p.Exited() {
		return fmt.Errorf("%s is running", m.Name)
	}
	return os.RemoveAll(m.DataDir)
}
