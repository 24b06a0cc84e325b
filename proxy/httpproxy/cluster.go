package httpproxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// membersTimeout bounds one ask of a peer's /members.
const membersTimeout = 10 * time.Second

// ClusterFile is the file in the proxy's directory that keeps the
// cluster's peer URLs.
func ClusterFile(dir string) string { return filepath.Join(dir, "cluster") }

// clusterFileJSON is etcd's layout of the cluster file.
type clusterFileJSON struct {
	PeerURLs []string
}

// ReadClusterFile returns the peer URLs kept in dir's cluster file; an
// error satisfying errors.Is(err, os.ErrNotExist) means there is none
// (the proxy starts for the first time).
func ReadClusterFile(dir string) ([]string, error) {
	b, err := os.ReadFile(ClusterFile(dir))
	if err != nil {
		return nil, err
	}
	var c clusterFileJSON
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parse proxy cluster file %s: %w", ClusterFile(dir), err)
	}
	return c.PeerURLs, nil
}

// writeClusterFile replaces the cluster file in one rename, synced, as
// etcd writes it (through "cluster.bak").
func writeClusterFile(path string, peerURLs []string) error {
	b, err := json.Marshal(clusterFileJSON{PeerURLs: peerURLs})
	if err != nil {
		return err
	}
	tmp := path + ".bak"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// member is a member as a peer's /members lists it.
type member struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
}

// memberSource asks the cluster's peers for the members and keeps the
// cluster file up to date. Only the director's goroutine calls it.
type memberSource struct {
	lg          *zap.Logger
	clusterFile string
	peerURLs    []string
	transport   http.RoundTripper
}

// clientURLs returns the members' client URLs, or none when no peer
// answers, and records the members' peer URLs for the next time.
func (s *memberSource) clientURLs() []string {
	members, err := fetchMembers(s.lg, s.peerURLs, s.transport)
	if err != nil {
		s.lg.Warn("failed to get cluster from remote peers", zap.Strings("peer-urls", s.peerURLs), zap.Error(err))
		return []string{}
	}
	var clientURLs, peerURLs []string
	for _, m := range members {
		clientURLs = append(clientURLs, m.ClientURLs...)
		peerURLs = append(peerURLs, m.PeerURLs...)
	}
	slices.Sort(clientURLs)
	slices.Sort(peerURLs)
	if err := writeClusterFile(s.clusterFile, peerURLs); err != nil {
		s.lg.Warn("proxy failed to write cluster file", zap.String("path", s.clusterFile), zap.Error(err))
		return clientURLs
	}
	if !slices.Equal(peerURLs, s.peerURLs) {
		s.lg.Info("proxy updated peer URLs", zap.Strings("from", s.peerURLs), zap.Strings("to", peerURLs))
	}
	s.peerURLs = peerURLs
	return clientURLs
}

// fetchMembers asks each peer URL in turn for /members until one answers
// with a cluster ID and at least one member.
func fetchMembers(lg *zap.Logger, urls []string, rt http.RoundTripper) ([]member, error) {
	hc := &http.Client{
		Transport:     rt,
		Timeout:       membersTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, u := range urls {
		addr := u + "/members"
		resp, err := hc.Get(addr)
		if err != nil {
			lg.Warn("failed to get cluster response", zap.String("address", addr), zap.Error(err))
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			lg.Warn("failed to read body of cluster response", zap.String("address", addr), zap.Error(err))
			continue
		}
		var members []member
		if err := json.Unmarshal(b, &members); err != nil {
			lg.Warn("failed to unmarshal cluster response", zap.String("address", addr), zap.Error(err))
			continue
		}
		h := resp.Header.Get("X-Etcd-Cluster-ID")
		if _, err := strconv.ParseUint(h, 16, 64); err != nil {
			lg.Warn("failed to parse cluster ID", zap.String("address", addr), zap.String("header", h), zap.Error(err))
			continue
		}
		if len(members) == 0 {
			return nil, errors.New("failed to get raft cluster member(s) from the given URLs")
		}
		return members, nil
	}
	return nil, errors.New("could not retrieve cluster information from the given URLs")
}
