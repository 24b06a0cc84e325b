package embed

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/basaltkv/basalt/pkg/flags"
	"github.com/basaltkv/basalt/pkg/tlsutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"sigs.k8s.io/yaml"
)

// configYAML is the file's layout: Config's own keys plus those etcd
// translates (URL lists as comma-separated strings, transport security
// sections).
type configYAML struct {
	Config
	configJSON
}

type configJSON struct {
	ListenPeerURLs       string `json:"listen-peer-urls"`
	ListenClientURLs     string `json:"listen-client-urls"`
	ListenClientHTTPURLs string `json:"listen-client-http-urls"`
	AdvertisePeerURLs    string `json:"initial-advertise-peer-urls"`
	AdvertiseClientURLs  string `json:"advertise-client-urls"`
	ListenMetricsURLs    string `json:"listen-metrics-urls"`

	CORSJSON          string `json:"cors"`
	HostWhitelistJSON string `json:"host-whitelist"`

	ClientSecurityJSON securityConfig `json:"client-transport-security"`
	PeerSecurityJSON   securityConfig `json:"peer-transport-security"`
}

type securityConfig struct {
	CertFile            string   `json:"cert-file"`
	KeyFile             string   `json:"key-file"`
	ClientCertFile      string   `json:"client-cert-file"`
	ClientKeyFile       string   `json:"client-key-file"`
	CertAuth            bool     `json:"client-cert-auth"`
	TrustedCAFile       string   `json:"trusted-ca-file"`
	AutoTLS             bool     `json:"auto-tls"`
	AllowedCNs          []string `json:"allowed-cn"`
	AllowedHostnames    []string `json:"allowed-hostname"`
	SkipClientSANVerify bool     `json:"skip-client-san-verification,omitempty"`
}

// FileResult is what ConfigFromFile read, beyond the Config.
type FileResult struct {
	// UnknownKeys are top-level keys basalt does not know (etcd ignores
	// them; the caller warns).
	UnknownKeys []string
}

// ConfigFromFile reads an etcd YAML configuration file over etcd's
// defaults. As in etcd, flags and environment variables do not apply
// when a file is given. It does not validate: call Validate.
func ConfigFromFile(path string) (*Config, FileResult, error) {
	var res FileResult
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, res, err
	}
	cy := &configYAML{Config: *NewConfig()}
	defaultInitialCluster := cy.InitialCluster
	if err := yaml.Unmarshal(b, cy); err != nil {
		return nil, res, fmt.Errorf("parse config file %s: %w", path, err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, res, fmt.Errorf("parse config file %s: %w", path, err)
	}
	if v := raw["grpc-additional-server-options"]; v != nil {
		if l, isList := v.([]any); !isList || len(l) > 0 {
			return nil, res, fmt.Errorf("parse config file %s: grpc-additional-server-options are a program's gRPC server options; a file cannot set them", path)
		}
	}
	cfg := &cy.Config
	cfg.ExplicitlySet = map[string]bool{}
	known := knownFileKeys()
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cfg.ExplicitlySet[k] = true
		if !known[k] {
			res.UnknownKeys = append(res.UnknownKeys, k)
		}
	}
	if sec, ok := raw["peer-transport-security"]; ok {
		m, isMap := sec.(map[string]any)
		if !isMap {
			return nil, res, errors.New("invalid peer-transport-security")
		}
		for k := range m {
			cfg.ExplicitlySet["peer-"+k] = true
		}
	}

	set := func(key, value string, dst *[]url.URL) error {
		if value == "" {
			return nil
		}
		us, err := flags.ParseURLs(strings.Split(value, ","))
		if err != nil {
			return fmt.Errorf("unexpected error setting up %s: %w", key, err)
		}
		*dst = us
		return nil
	}
	for _, s := range []struct {
		key, value string
		dst        *[]url.URL
	}{
		{"listen-peer-urls", cy.ListenPeerURLs, (&cfg.ListenPeerUrls)},
		{"listen-client-urls", cy.ListenClientURLs, (&cfg.ListenClientUrls)},
		{"listen-client-http-urls", cy.ListenClientHTTPURLs, (&cfg.ListenClientHttpUrls)},
		{"initial-advertise-peer-urls", cy.AdvertisePeerURLs, (&cfg.AdvertisePeerUrls)},
		{"advertise-client-urls", cy.AdvertiseClientURLs, (&cfg.AdvertiseClientUrls)},
		{"listen-metrics-urls", cy.ListenMetricsURLs, (&cfg.ListenMetricsUrls)},
	} {
		if err := set(s.key, s.value, s.dst); err != nil {
			return nil, res, err
		}
	}

	if err := CheckFeatureGatesSyntax(cfg.FeatureGates); err != nil {
		return nil, res, fmt.Errorf("failed to set feature gates from config file: %w", err)
	}
	if cy.CORSJSON != "" {
		cfg.CORS = uniqueSorted(strings.Split(cy.CORSJSON, ","))
	}
	if cy.HostWhitelistJSON != "" {
		cfg.HostWhitelist = uniqueSorted(strings.Split(cy.HostWhitelistJSON, ","))
	}
	if cfg.ClusterState == "" {
		cfg.ClusterState = ClusterStateFlagNew
	}
	// A file that does not give the initial cluster bootstraps a lone
	// member, its name with its advertised peer URLs, unless discovery
	// finds its cluster.
	if cfg.InitialCluster == defaultInitialCluster && !cfg.ExplicitlySet["initial-cluster"] {
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		if cfg.UsesDiscovery() {
			cfg.InitialCluster = ""
		}
	}
	// discovery-config may set its sections to null.
	if cfg.DiscoveryCfg.Secure == nil {
		cfg.DiscoveryCfg.Secure = &clientv3.SecureConfig{}
	}
	if cfg.DiscoveryCfg.Auth == nil {
		cfg.DiscoveryCfg.Auth = &clientv3.AuthConfig{}
	}
	copySecurity(&cfg.ClientTLSInfo, cy.ClientSecurityJSON)
	copySecurity(&cfg.PeerTLSInfo, cy.PeerSecurityJSON)
	cfg.ClientAutoTLS = cy.ClientSecurityJSON.AutoTLS
	cfg.PeerAutoTLS = cy.PeerSecurityJSON.AutoTLS
	if cfg.SelfSignedCertValidity == 0 {
		cfg.SelfSignedCertValidity = DefaultSelfSignedCertValidity
	}
	return cfg, res, nil
}

func copySecurity(info *tlsutil.Info, sc securityConfig) {
	info.CertFile = sc.CertFile
	info.KeyFile = sc.KeyFile
	info.ClientCertFile = sc.ClientCertFile
	info.ClientKeyFile = sc.ClientKeyFile
	info.ClientCertAuth = sc.CertAuth
	info.TrustedCAFile = sc.TrustedCAFile
	info.AllowedCNs = sc.AllowedCNs
	info.AllowedHostnames = sc.AllowedHostnames
	info.SkipClientSANVerify = sc.SkipClientSANVerify
}

// knownFileKeys are the keys of configYAML, and the two of etcd's that
// basalt reads without a field: v2-deprecation (etcd enforces its
// default whatever the file says) and grpc-additional-server-options
// (options of a program embedding etcd; only an empty list is valid in a
// file).
func knownFileKeys() map[string]bool {
	known := jsonKeys(reflect.TypeOf(configYAML{}))
	known["v2-deprecation"] = true
	known["grpc-additional-server-options"] = true
	return known
}

// jsonKeys are the json keys of t's fields, embedded structs' included.
func jsonKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			maps.Copy(keys, jsonKeys(f.Type))
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

func uniqueSorted(ss []string) []string {
	ss = slices.Clone(ss)
	slices.Sort(ss)
	return slices.Compact(ss)
}
