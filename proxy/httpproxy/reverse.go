package httpproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
)

// hopHeaders are hop-by-hop headers (RFC 2616 section 13.5.1): they are
// not forwarded either way.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailers", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	for _, k := range hopHeaders {
		h.Del(k)
	}
}

// reverseProxy sends each request to the first available endpoint that
// takes it.
type reverseProxy struct {
	lg        *zap.Logger
	director  *director
	transport http.RoundTripper
	metrics   *metrics
}

func (p *reverseProxy) ServeHTTP(w http.ResponseWriter, clientReq *http.Request) {
	p.metrics.incoming(clientReq)
	start := time.Now()
	body, err := io.ReadAll(clientReq.Body)
	if err != nil {
		p.lg.Info("failed to read request body", zap.Error(err))
		writeError(p.lg, w, clientReq, http.StatusInternalServerError, fmt.Sprintf("httpproxy: failed to read request body: %v", err))
		return
	}

	proxyReq := clientReq.Clone(clientReq.Context())
	proxyReq.RequestURI = ""
	proxyReq.Proto, proxyReq.ProtoMajor, proxyReq.ProtoMinor = "HTTP/1.1", 1, 1
	proxyReq.Close = false
	removeHopHeaders(proxyReq.Header)
	setForwardedFor(proxyReq)

	endpoints := p.director.available()
	if len(endpoints) == 0 {
		const msg = "zero endpoints currently available"
		p.metrics.dropped(clientReq, "zero_endpoints")
		p.lg.Info(msg)
		writeError(p.lg, w, clientReq, http.StatusServiceUnavailable, "httpproxy: "+msg)
		return
	}

	var resp *http.Response
	for _, ep := range endpoints {
		proxyReq.Body = http.NoBody
		if len(body) > 0 {
			proxyReq.Body = io.NopCloser(bytes.NewReader(body))
		}
		proxyReq.URL.Scheme, proxyReq.URL.Host = ep.url.Scheme, ep.url.Host
		resp, err = p.transport.RoundTrip(proxyReq)
		if clientReq.Context().Err() != nil {
			if resp != nil {
				resp.Body.Close()
			}
			p.lg.Info("client closed request prematurely", zap.String("remote-addr", clientReq.RemoteAddr))
			return
		}
		if err != nil {
			p.metrics.dropped(clientReq, "failed_sending_request")
			p.lg.Info("failed to direct request", zap.String("url", ep.url.String()), zap.Error(err))
			ep.failed()
			continue
		}
		break
	}
	if resp == nil {
		msg := fmt.Sprintf("unable to get response from %d endpoint(s)", len(endpoints))
		p.metrics.dropped(clientReq, "failed_getting_response")
		p.lg.Info(msg)
		writeError(p.lg, w, clientReq, http.StatusBadGateway, "httpproxy: "+msg)
		return
	}
	defer resp.Body.Close()
	p.metrics.handled(clientReq, resp.StatusCode, start)
	removeHopHeaders(resp.Header)
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	copyFlushing(w, resp.Body)
}

// copyFlushing copies a response body, flushing after each read so that
// a streamed v2 watch reaches the client event by event.
func copyFlushing(w http.ResponseWriter, r io.Reader) {
	f, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if f != nil {
				f.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// setForwardedFor appends the client's address to X-Forwarded-For,
// folding earlier values into one header.
func setForwardedFor(req *http.Request) {
	ip, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return
	}
	if prior, ok := req.Header["X-Forwarded-For"]; ok {
		ip = strings.Join(prior, ", ") + ", " + ip
	}
	req.Header.Set("X-Forwarded-For", ip)
}

// writeError answers as etcd's HTTP errors do: JSON {"message": ...}.
func writeError(lg *zap.Logger, w http.ResponseWriter, req *http.Request, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	if _, err := w.Write(b); err != nil {
		lg.Debug("error writing HTTPError to remote addr", zap.String("remote-addr", req.RemoteAddr), zap.Error(err))
	}
}
