package failpoint

import (
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Handler serves the points over HTTP at prefix (for example
// "/debug/failpoints"): GET prefix lists "name=action hits=N" lines, GET
// prefix/NAME shows one point's action, PUT prefix/NAME arms it with the
// body, DELETE prefix/NAME disarms it.
func Handler(prefix string) http.Handler {
	prefix = strings.TrimSuffix(prefix, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, prefix), "/")
		if name == "" {
			if r.Method != http.MethodGet {
				http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			for _, n := range Names() {
				p := lookup(n)
				fmt.Fprintf(w, "%s=%s hits=%d\n", n, p.actionText(), p.Hits())
			}
			return
		}
		p := lookup(name)
		if p == nil {
			http.Error(w, fmt.Sprintf("no failpoint %q", name), http.StatusNotFound)
			return
		}
		switch r.Method {
		case http.MethodGet:
			fmt.Fprintf(w, "%s\n", p.actionText())
		case http.MethodPut:
			body, err := io.ReadAll(io.LimitReader(r.Body, 1024))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if err := Set(name, string(body)); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		case http.MethodDelete:
			p.armed.Store(nil)
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

func (p *Point) actionText() string {
	if a := p.armed.Load(); a != nil {
		return a.text
	}
	return ""
}
