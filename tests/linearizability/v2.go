package linearizability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// The v2 API's traffic (scenarios with v2): clients set, compare-and-swap
// (on the modified index they last saw), delete and quorum-read a few v2
// keys over HTTP, a stream watcher follows them all, and porcupine checks
// the history against a model of the v2 store: one index for the whole
// store, every write at the next index, errors and reads answered with
// the store's index. The watcher must see every index from the first to
// the last exactly once, in order, each event the write that made it.

const (
	v2NumKeys = 4
	v2Dir     = "/v2/keys/lin2"
)

func v2KeyPath(i int) string { return v2Dir + "/k" + strconv.Itoa(i) }

type v2OpKind int

const (
	v2Set v2OpKind = iota
	v2CAS
	v2Del
	v2Get
)

var v2OpNames = [...]string{"set", "cas", "delete", "get"}

type v2Input struct {
	Kind      v2OpKind
	Key       int
	Value     string
	PrevIndex uint64
}

// v2Output is an answer: a write's modified index, a read's value and
// modified index, or an error code; Index is the store's index the
// answer carries (X-Etcd-Index), or for a write its modified index.
type v2Output struct {
	Unknown bool
	Code    int
	Index   uint64
	Value   string
	Mod     uint64
}

type v2KV struct {
	Value string
	Mod   uint64
}

type v2State struct {
	Index uint64
	KVs   [v2NumKeys]v2KV
}

// v2Step is the model: it applies in to s and tells whether out is the
// store's answer.
func v2Step(s v2State, in v2Input, out v2Output) (bool, v2State) {
	want, next := v2Apply(s, in)
	if out.Unknown {
		return true, next
	}
	return want == out, next
}

func v2Apply(s v2State, in v2Input) (v2Output, v2State) {
	kv := s.KVs[in.Key]
	switch in.Kind {
	case v2Get:
		if kv.Mod == 0 {
			return v2Output{Code: 100, Index: s.Index}, s
		}
		return v2Output{Index: s.Index, Value: kv.Value, Mod: kv.Mod}, s
	case v2Del:
		if kv.Mod == 0 {
			return v2Output{Code: 100, Index: s.Index}, s
		}
		s.Index++
		s.KVs[in.Key] = v2KV{}
		return v2Output{Index: s.Index}, s
	case v2CAS:
		if kv.Mod == 0 {
			return v2Output{Code: 100, Index: s.Index}, s
		}
		if kv.Mod != in.PrevIndex {
			return v2Output{Code: 101, Index: s.Index}, s
		}
	}
	s.Index++
	s.KVs[in.Key] = v2KV{Value: in.Value, Mod: s.Index}
	return v2Output{Index: s.Index}, s
}

var v2Model = porcupine.Model{
	Init: func() any { return v2State{} },
	Step: func(s, in, out any) (bool, any) {
		return v2Step(s.(v2State), in.(v2Input), out.(v2Output))
	},
	Equal: func(a, b any) bool { return a.(v2State) == b.(v2State) },
	DescribeOperation: func(in, out any) string {
		i, o := in.(v2Input), out.(v2Output)
		desc := fmt.Sprintf("%s(k%d", v2OpNames[i.Kind], i.Key)
		if i.Kind == v2Set || i.Kind == v2CAS {
			desc += ", " + i.Value
		}
		if i.Kind == v2CAS {
			desc += fmt.Sprintf(", prev %d", i.PrevIndex)
		}
		switch {
		case o.Unknown:
			return desc + ") -> unknown"
		case o.Code != 0:
			return fmt.Sprintf("%s) -> error %d at %d", desc, o.Code, o.Index)
		case i.Kind == v2Get:
			return fmt.Sprintf("%s) -> %q@%d at %d", desc, o.Value, o.Mod, o.Index)
		}
		return fmt.Sprintf("%s) -> at %d", desc, o.Index)
	},
}

// v2Recorder collects the v2 operations.
type v2Recorder struct {
	rec *recorder // its clock
	mu  sync.Mutex
	ops []porcupine.Operation
}

func (r *v2Recorder) add(client int, in v2Input, call int64, out v2Output, ret int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// history is the operations, those of unknown outcome returning last.
func (r *v2Recorder) history() []porcupine.Operation {
	r.mu.Lock()
	ops := append([]porcupine.Operation(nil), r.ops...)
	r.mu.Unlock()
	var end int64
	for _, op := range ops {
		end = max(end, op.Call, op.Return)
	}
	for i := range ops {
		if ops[i].Output.(v2Output).Unknown {
			ops[i].Return = end + 1
		}
	}
	return ops
}

// v2Client sends v2 requests to the members in turn, moving on when one
// cannot be reached.
type v2Client struct {
	eps  []string
	next int
	hc   *http.Client
}

func newV2Client(eps []string, start int) *v2Client {
	return &v2Client{eps: eps, next: start, hc: &http.Client{Timeout: opTimeout}}
}

// v2Answer is a decoded answer.
type v2Answer struct {
	status int
	index  uint64 // X-Etcd-Index
	code   int
	node   struct {
		Value         string `json:"value"`
		ModifiedIndex uint64 `json:"modifiedIndex"`
	}
}

func (c *v2Client) do(ctx context.Context, method, path string, form url.Values) (*v2Answer, error) {
	ep := c.eps[c.next%len(c.eps)]
	var body io.Reader
	target := ep + path
	if method == http.MethodGet || method == http.MethodDelete {
		target += "?" + form.Encode()
	} else {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.next++
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.next++
		return nil, err
	}
	a := &v2Answer{status: resp.StatusCode}
	a.index, _ = strconv.ParseUint(resp.Header.Get("X-Etcd-Index"), 10, 64)
	var parsed struct {
		ErrorCode int `json:"errorCode"`
		Node      *struct {
			Value         string `json:"value"`
			ModifiedIndex uint64 `json:"modifiedIndex"`
		} `json:"node"`
	}
	if err := json.Unmarshal(b, &parsed); err != nil {
		return nil, fmt.Errorf("%s %s: %d %q: %w", method, target, resp.StatusCode, b, err)
	}
	a.code = parsed.ErrorCode
	if parsed.Node != nil {
		a.node = *parsed.Node
	}
	if a.code >= 300 {
		// Raft internal errors (timeouts, no leader): outcome unknown.
		c.next++
		return nil, fmt.Errorf("%s %s: error %d", method, target, a.code)
	}
	return a, nil
}

// v2Worker is one client of the v2 traffic.
type v2Worker struct {
	id      int
	cli     *v2Client
	rng     *rand.Rand
	rec     *v2Recorder
	seq     int
	lastMod [v2NumKeys]uint64
}

func (w *v2Worker) run(ctx context.Context) {
	for ctx.Err() == nil {
		if !w.step(ctx) {
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(50+w.rng.IntN(100)) * time.Millisecond):
			}
		}
	}
}

func (w *v2Worker) step(ctx context.Context) bool {
	in := v2Input{Key: w.rng.IntN(v2NumKeys)}
	p := w.rng.IntN(100)
	switch {
	case p < 35:
		in.Kind = v2Get
	case p < 65:
		in.Kind = v2Set
	case p < 90:
		in.Kind, in.PrevIndex = v2CAS, w.lastMod[in.Key]
	default:
		in.Kind = v2Del
	}
	if in.Kind == v2Set || in.Kind == v2CAS {
		w.seq++
		in.Value = fmt.Sprintf("v2c%d-%d", w.id, w.seq)
	}
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	path := v2KeyPath(in.Key)
	call := w.rec.rec.now()
	var a *v2Answer
	var err error
	switch in.Kind {
	case v2Get:
		a, err = w.cli.do(octx, http.MethodGet, path, url.Values{"quorum": {"true"}})
	case v2Set:
		a, err = w.cli.do(octx, http.MethodPut, path, url.Values{"value": {in.Value}})
	case v2CAS:
		a, err = w.cli.do(octx, http.MethodPut, path, url.Values{"value": {in.Value}, "prevIndex": {strconv.FormatUint(max(in.PrevIndex, 1), 10)}})
		if in.PrevIndex == 0 {
			in.PrevIndex = 1
		}
	case v2Del:
		a, err = w.cli.do(octx, http.MethodDelete, path, nil)
	}
	ret := w.rec.rec.now()
	if err != nil {
		if in.Kind == v2Get {
			return false
		}
		w.rec.add(w.id, in, call, v2Output{Unknown: true}, ret)
		return false
	}
	out := v2Output{Code: a.code, Index: a.index}
	if a.code == 0 {
		switch in.Kind {
		case v2Get:
			out.Value, out.Mod = a.node.Value, a.node.ModifiedIndex
			w.lastMod[in.Key] = a.node.ModifiedIndex
		default:
			// A write answers with its modified index.
			out.Index = a.node.ModifiedIndex
			if in.Kind != v2Del {
				w.lastMod[in.Key] = a.node.ModifiedIndex
			}
		}
	}
	w.rec.add(w.id, in, call, out, ret)
	return true
}

// v2Event is what the watcher saw at an index.
type v2Event struct {
	Index  uint64
	Action string
	Key    string
	Value  string
}

// v2Watcher follows every event under the keys' directory as etcd's v2
// clients do: one wait at a time, each from the index after the last
// event seen (a stream wait from a past index brings that one event
// alone, in etcd 3.4 as in basalt). It moves to another member when one
// cannot be reached or stays silent (a member that installs a snapshot
// forgets its watchers, as etcd's).
type v2Watcher struct {
	eps    []string
	rec    *recorder
	mu     sync.Mutex
	events []v2Event
	err    error
	// moves describes each change of member (for a failing run's report).
	moves []string
}

func (w *v2Watcher) run(ctx context.Context) {
	for i := 0; ctx.Err() == nil; {
		ok, err := w.next(ctx, w.eps[i%len(w.eps)])
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		if !ok {
			i++
		}
	}
}

// v2Idle ends a wait that brought nothing for so long.
const v2Idle = 2 * time.Second

// next waits for the next event on ep; false if none came (the member
// is unreachable, silent or failing); an error means the history needed
// is gone.
func (w *v2Watcher) next(ctx context.Context, ep string) (bool, error) {
	w.mu.Lock()
	from := uint64(1)
	if n := len(w.events); n > 0 {
		from = w.events[n-1].Index + 1
	}
	w.mu.Unlock()
	why := ""
	defer func() {
		if why != "" {
			w.mu.Lock()
			w.moves = append(w.moves, fmt.Sprintf("%v %s from %d: %s", time.Duration(w.rec.now()).Round(time.Millisecond), ep, from, why))
			w.mu.Unlock()
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, v2Idle)
	defer cancel()
	req, err := http.NewRequestWithContext(wctx, http.MethodGet,
		ep+v2Dir+"?wait=true&recursive=true&waitIndex="+strconv.FormatUint(from, 10), nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		why = err.Error()
		return false, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		why = "read: " + err.Error()
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		why = fmt.Sprintf("%d %s", resp.StatusCode, b)
		if strings.Contains(string(b), `"errorCode":401`) {
			return false, fmt.Errorf("v2 watch from %d on %s: %s", from, ep, b)
		}
		return false, nil
	}
	var ev struct {
		Action string `json:"action"`
		Node   struct {
			Key           string  `json:"key"`
			Value         *string `json:"value"`
			ModifiedIndex uint64  `json:"modifiedIndex"`
		} `json:"node"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return false, fmt.Errorf("v2 watch on %s: bad event %q: %w", ep, b, err)
	}
	e := v2Event{Index: ev.Node.ModifiedIndex, Action: ev.Action, Key: ev.Node.Key}
	if ev.Node.Value != nil {
		e.Value = *ev.Node.Value
	}
	w.mu.Lock()
	w.events = append(w.events, e)
	w.mu.Unlock()
	return true, nil
}

func (w *v2Watcher) seen() (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.events); n > 0 {
		return w.events[n-1].Index, w.err
	}
	return 0, w.err
}

// v2Traffic runs the v2 clients and the watcher until ctx ends and
// returns a function that, after healing, reads every key, waits for the
// watcher and checks everything.
type v2Traffic struct {
	r       *run
	rec     *v2Recorder
	watcher *v2Watcher
	wg      sync.WaitGroup
	stopW   context.CancelFunc
}

func startV2Traffic(ctx context.Context, r *run, clients int) *v2Traffic {
	eps := r.c.Endpoints()
	tr := &v2Traffic{r: r, rec: &v2Recorder{rec: r.rec}, watcher: &v2Watcher{eps: eps, rec: r.rec}}
	wctx, stop := context.WithCancel(context.Background())
	tr.stopW = stop
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		tr.watcher.run(wctx)
	}()
	for i := range clients {
		w := &v2Worker{id: 100 + i, cli: newV2Client(eps, i), rng: rand.New(rand.NewPCG(r.seed, uint64(100+i))), rec: tr.rec}
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			w.run(ctx)
		}()
	}
	return tr
}

// finish reads every key through raft once the cluster is healed, waits
// until the watcher has seen the store's index, and checks the history
// and the events.
func (tr *v2Traffic) finish(ctx context.Context) {
	r := tr.r
	cli := newV2Client(r.c.Endpoints(), 0)
	var final uint64
	for k := range v2NumKeys {
		in := v2Input{Kind: v2Get, Key: k}
		var out v2Output
		err := pollCtx(ctx, func() error {
			call := tr.rec.rec.now()
			a, err := cli.do(ctx, http.MethodGet, v2KeyPath(k), url.Values{"quorum": {"true"}})
			if err != nil {
				return err
			}
			out = v2Output{Code: a.code, Index: a.index, Value: a.node.Value, Mod: a.node.ModifiedIndex}
			tr.rec.add(1000, in, call, out, tr.rec.rec.now())
			return nil
		})
		if err != nil {
			r.problem("v2 final read of k%d: %v", k, err)
			return
		}
		final = max(final, out.Index)
	}
	err := pollCtx(ctx, func() error {
		seen, err := tr.watcher.seen()
		if err != nil {
			return backoffStop{err}
		}
		if seen < final {
			return fmt.Errorf("the v2 watcher has seen up to %d of %d", seen, final)
		}
		return nil
	})
	tr.stopW()
	tr.wg.Wait()
	if err != nil {
		r.problem("%v", err)
		r.t.Logf("v2 watcher's moves:\n%s", strings.Join(tr.watcher.moves, "\n"))
		return
	}
	ops := tr.rec.history()
	if !tr.checkEvents(ops, final) {
		return
	}
	ops, settled, dropped := resolveV2Unknown(ops, tr.watcher.events)
	res, _ := porcupine.CheckOperationsVerbose(v2Model, ops, checkTimeout)
	r.t.Logf("v2 history: %d operations (the watch settled %d of unknown outcome and showed %d never took effect), final index %d, %d events watched; porcupine: %v",
		len(ops), settled, dropped, final, len(tr.watcher.events), res)
	if res != porcupine.Ok {
		r.problem("the v2 history is not linearizable: %v", res)
	}
}

// resolveV2Unknown gives each write of unknown outcome the index the
// watch saw it at (a set or compare-and-swap by its value, which no other
// write has; a delete by the first delete event of its key that no
// acknowledged delete claims), and drops those the watch never saw: they
// changed nothing. Without this, porcupine tries every unknown write at
// every point of the history.
func resolveV2Unknown(ops []porcupine.Operation, events []v2Event) ([]porcupine.Operation, int, int) {
	byValue := map[string]v2Event{}
	claimed := map[uint64]bool{}
	for _, e := range events {
		if e.Action != "delete" {
			byValue[e.Value] = e
		}
	}
	for _, op := range ops {
		in, out := op.Input.(v2Input), op.Output.(v2Output)
		if !out.Unknown && out.Code == 0 && in.Kind == v2Del {
			claimed[out.Index] = true
		}
	}
	var kept []porcupine.Operation
	settled, dropped := 0, 0
	for _, op := range ops {
		in, out := op.Input.(v2Input), op.Output.(v2Output)
		if !out.Unknown {
			kept = append(kept, op)
			continue
		}
		var found *v2Event
		switch in.Kind {
		case v2Set, v2CAS:
			if e, ok := byValue[in.Value]; ok {
				found = &e
			}
		case v2Del:
			key := strings.TrimPrefix(v2KeyPath(in.Key), "/v2/keys")
			for i := range events {
				e := &events[i]
				if e.Action == "delete" && e.Key == key && !claimed[e.Index] && e.Index > 0 {
					found = e
					claimed[e.Index] = true
					break
				}
			}
		}
		if found == nil {
			dropped++
			continue
		}
		settled++
		op.Output = v2Output{Index: found.Index}
		kept = append(kept, op)
	}
	return kept, settled, dropped
}

// checkEvents: the watcher saw every index from 1 to final once, in
// order, and each acknowledged write at its index.
func (tr *v2Traffic) checkEvents(ops []porcupine.Operation, final uint64) bool {
	before := len(tr.r.problems)
	events := tr.watcher.events
	byIndex := map[uint64]v2Event{}
	for i, e := range events {
		if e.Index != uint64(i+1) {
			tr.r.problem("v2 watch: event %d has index %d (want %d): a gap or a repeat", i, e.Index, i+1)
			return false
		}
		byIndex[e.Index] = e
	}
	if uint64(len(events)) < final {
		tr.r.problem("v2 watch: %d events for a final index of %d", len(events), final)
	}
	for _, op := range ops {
		in, out := op.Input.(v2Input), op.Output.(v2Output)
		if out.Unknown || out.Code != 0 || in.Kind == v2Get {
			continue
		}
		e, ok := byIndex[out.Index]
		switch {
		case !ok:
			tr.r.problem("v2 watch: no event at %d, where %s of k%d was acknowledged", out.Index, v2OpNames[in.Kind], in.Key)
		case e.Key != strings.TrimPrefix(v2KeyPath(in.Key), "/v2/keys"):
			tr.r.problem("v2 watch: the event at %d is of %s, not k%d", out.Index, e.Key, in.Key)
		case in.Kind != v2Del && e.Value != in.Value:
			tr.r.problem("v2 watch: the event at %d has %q, the acknowledged write %q", out.Index, e.Value, in.Value)
		}
	}
	return len(tr.r.problems) == before
}

// backoffStop ends a poll at once with its error.
type backoffStop struct{ err error }

func (b backoffStop) Error() string { return b.err.Error() }

// pollCtx calls fn until it succeeds, returns a backoffStop, or ctx ends.
func pollCtx(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		var stop backoffStop
		if err == nil || errors.As(err, &stop) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
