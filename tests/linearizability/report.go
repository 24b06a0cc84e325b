package linearizability

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// artifacts is what a failing run keeps.
type artifacts struct {
	scenario string
	seed     uint64
	ops      []porcupine.Operation
	info     *porcupine.LinearizationInfo
	faults   []faultEvent
	watchers []*watcher
	c        *cluster
	problems []string
}

// save writes the artifacts into a new folder under $BASALT_LIN_ARTIFACTS
// (default: the system's temporary folder) and returns its path.
func (a *artifacts) save() (string, error) {
	base := os.Getenv("BASALT_LIN_ARTIFACTS")
	if base == "" {
		base = os.TempDir()
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(base, fmt.Sprintf("basalt-lin-%s-seed%d-", a.scenario, a.seed))
	if err != nil {
		return "", err
	}
	write := func(name, content string) {
		if werr := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); werr != nil && err == nil {
			err = werr
		}
	}
	write("README.txt", fmt.Sprintf(`scenario %s, seed %d
replay: BASALT_LIN_SEED=%d go test -race -run 'TestLinearizability/%s$' ./tests/linearizability/
The seed fixes the fault schedule (which fault, which member, how long) and
each client's operations; the timing of real processes is not replayed, so a
replay is similar, not identical.

problems:
%s
files: history.html (porcupine's visualization: open in a browser),
history.txt (every operation; times in ms since the start), faults.txt,
watch-N.txt (each watcher's events), <member>.log (every run of it).
`, a.scenario, a.seed, a.seed, a.scenario, strings.Join(a.problems, "\n")))

	var b strings.Builder
	for _, op := range a.ops {
		ret := fmt.Sprintf("%9.3f", float64(op.Return)/1e6)
		if op.Output.(output).Unknown {
			ret = "        ∞"
		}
		fmt.Fprintf(&b, "c%-2d %9.3f %s  %s\n", op.ClientId, float64(op.Call)/1e6, ret, describeOp(op.Input.(input), op.Output.(output)))
	}
	write("history.txt", b.String())

	b.Reset()
	for _, f := range a.faults {
		fmt.Fprintf(&b, "%9.3f %9.3f  %v  %s\n", float64(f.Start)/1e6, float64(f.End)/1e6, f.Fault, f.Description)
	}
	write("faults.txt", b.String())

	for _, w := range a.watchers {
		b.Reset()
		w.mu.Lock()
		for _, ev := range w.events {
			fmt.Fprintln(&b, describeEvent(ev))
		}
		fmt.Fprintf(&b, "(watched again %d times)\n", w.rewatch)
		for _, e := range w.errs {
			fmt.Fprintln(&b, "error:", e)
		}
		w.mu.Unlock()
		write(fmt.Sprintf("watch-%d.txt", w.id), b.String())
	}
	if a.c != nil {
		for _, m := range a.c.Members {
			write(m.Name+".log", m.Logs())
		}
	}
	if a.info != nil {
		write("linearization.txt", explainLinearization(a.ops, *a.info))
		var anns []porcupine.Annotation
		for _, f := range a.faults {
			anns = append(anns, porcupine.Annotation{Tag: "faults", Start: f.Start, End: f.End, Description: f.Fault.String(), Details: f.Description})
		}
		a.info.AddAnnotations(anns)
		if verr := porcupine.VisualizePath(kvModel, *a.info, filepath.Join(dir, "history.html")); verr != nil && err == nil {
			err = verr
		}
	}
	return dir, err
}

// explainLinearization describes where the longest linearization the
// checker found stops: its last steps with the model's state after each,
// then the operations that should come next (earliest return first) with
// what the model would have answered.
func explainLinearization(ops []porcupine.Operation, info porcupine.LinearizationInfo) string {
	var longest []int
	for _, part := range info.PartialLinearizations() {
		for _, lin := range part {
			if len(lin) > len(longest) {
				longest = lin
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "longest linearization: %d of %d operations\n\n", len(longest), len(ops))
	s := initialState
	in := map[int]bool{}
	for n, id := range longest {
		in[id] = true
		op := ops[id]
		_, s = step(s, op.Input.(input), op.Output.(output))
		if n >= len(longest)-15 {
			fmt.Fprintf(&b, "c%-2d [%9.3f, %9.3f] %s\n      => %s\n", op.ClientId, float64(op.Call)/1e6, float64(op.Return)/1e6,
				describeOp(op.Input.(input), op.Output.(output)), describeState(s))
		}
	}
	var rest []int
	for id := range ops {
		if !in[id] {
			rest = append(rest, id)
		}
	}
	slices.SortFunc(rest, func(x, y int) int { return cmp.Compare(ops[x].Return, ops[y].Return) })
	b.WriteString("\nnext operations not linearized (earliest return first), and the model's answer after the linearization:\n")
	for _, id := range rest[:min(len(rest), 8)] {
		op := ops[id]
		want, _ := apply(s, op.Input.(input), op.Output.(output).Lease)
		fmt.Fprintf(&b, "c%-2d [%9.3f, %9.3f] %s\n      model: %s\n", op.ClientId, float64(op.Call)/1e6, float64(op.Return)/1e6,
			describeOp(op.Input.(input), op.Output.(output)), describeOp(op.Input.(input), want))
	}
	return b.String()
}
