package httpapi

import (
	"expvar"
	"fmt"
	"net/http"
)

// serveVars answers /debug/vars as etcd does: GET only, every published
// expvar (cmdline, memstats, the member's raft.status and
// file_descriptor_limit) as one JSON object.
func serveVars(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodGet) {
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	fmt.Fprint(w, "{\n")
	first := true
	expvar.Do(func(kv expvar.KeyValue) {
		if !first {
			fmt.Fprint(w, ",\n")
		}
		first = false
		fmt.Fprintf(w, "%q: %s", kv.Key, kv.Value)
	})
	fmt.Fprint(w, "\n}\n")
}
