package embed

import (
	"fmt"
	"path/filepath"

	"github.com/basaltkv/basalt/proxy/httpproxy"
)

// etcd 3.4's values of --proxy and --discovery-fallback.
const (
	ProxyOff      = "off"
	ProxyReadonly = "readonly"
	ProxyOn       = "on"

	FallbackExit  = "exit"
	FallbackProxy = "proxy"
)

// V2Proxy is etcd 3.4's v2 proxy mode and v2 discovery settings, which
// etcd 3.6 and 3.7 dropped and basalt brings back: --proxy and the
// --proxy-* timeouts (milliseconds), --discovery (the discovery URL),
// --discovery-proxy and --discovery-fallback. The config file's keys are
// etcd 3.4's.
type V2Proxy struct {
	Proxy                  string `json:"proxy"`
	ProxyFailureWaitMs     uint   `json:"proxy-failure-wait"`
	ProxyRefreshIntervalMs uint   `json:"proxy-refresh-interval"`
	ProxyDialTimeoutMs     uint   `json:"proxy-dial-timeout"`
	ProxyWriteTimeoutMs    uint   `json:"proxy-write-timeout"`
	ProxyReadTimeoutMs     uint   `json:"proxy-read-timeout"`

	// Durl is the discovery URL (--discovery): a token directory of the
	// v2 keys API. Dproxy is an HTTP proxy to reach it through.
	Durl   string `json:"discovery"`
	Dproxy string `json:"discovery-proxy"`
	// Fallback is what a member that discovery finds the cluster full for
	// does: exit, or become a proxy.
	Fallback string `json:"discovery-fallback"`
}

// DefaultV2Proxy is etcd 3.4's defaults: no proxy, exit on a full
// cluster.
func DefaultV2Proxy() V2Proxy {
	return V2Proxy{
		Proxy:                  ProxyOff,
		ProxyFailureWaitMs:     httpproxy.DefaultFailureWaitMs,
		ProxyRefreshIntervalMs: httpproxy.DefaultRefreshIntervalMs,
		ProxyDialTimeoutMs:     httpproxy.DefaultDialTimeoutMs,
		ProxyWriteTimeoutMs:    httpproxy.DefaultWriteTimeoutMs,
		ProxyReadTimeoutMs:     httpproxy.DefaultReadTimeoutMs,
		Fallback:               FallbackExit,
	}
}

// IsProxy reports whether the process starts as a v2 proxy (--proxy on
// or readonly) instead of a member.
func (cfg *Config) IsProxy() bool { return cfg.Proxy != ProxyOff }

// IsReadonlyProxy reports --proxy readonly.
func (cfg *Config) IsReadonlyProxy() bool { return cfg.Proxy == ProxyReadonly }

// ShouldFallbackToProxy reports --discovery-fallback proxy.
func (cfg *Config) ShouldFallbackToProxy() bool { return cfg.Fallback == FallbackProxy }

// MayBeProxy reports whether the process may serve as a proxy: asked to,
// or allowed to fall back to it after v2 discovery. Such a process may
// listen on client URLs without advertising any, as in etcd.
func (cfg *Config) MayBeProxy() bool {
	return cfg.IsProxy() || (cfg.Durl != "" && cfg.ShouldFallbackToProxy())
}

// ProxyDir is the proxy's directory in the data dir.
func (cfg *Config) ProxyDir() string { return filepath.Join(cfg.Dir, "proxy") }

// validateV2Proxy checks the values etcd 3.4 allows.
func (cfg *Config) validateV2Proxy() error {
	switch cfg.Proxy {
	case ProxyOff, ProxyReadonly, ProxyOn:
	default:
		return fmt.Errorf("invalid value %q for proxy: valid values are %q", cfg.Proxy, []string{ProxyOff, ProxyReadonly, ProxyOn})
	}
	switch cfg.Fallback {
	case FallbackExit, FallbackProxy:
	default:
		return fmt.Errorf("invalid value %q for discovery-fallback: valid values are %q", cfg.Fallback, []string{FallbackExit, FallbackProxy})
	}
	return nil
}
